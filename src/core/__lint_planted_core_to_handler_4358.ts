export type Planted = typeof import('../handlers/http');
