import path from 'node:path';
export const planted = path.join;
