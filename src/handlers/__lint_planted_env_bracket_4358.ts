export const planted = process['env'];
