import type { Config } from '../config';
export type Planted = Config;
