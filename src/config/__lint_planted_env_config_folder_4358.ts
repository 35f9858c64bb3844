export const planted = process.env.PLANTED;
