module.exports = async function globalTeardown() {
  const stack = globalThis.__TRIBUTARY_STACK__;
  if (stack) await stack.stop();
};
