const { env } = process;
export const planted = env;
