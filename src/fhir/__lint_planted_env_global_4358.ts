export const planted = globalThis.process.env;
