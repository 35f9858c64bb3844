export const planted = require('node:crypto') as typeof import('node:crypto');
