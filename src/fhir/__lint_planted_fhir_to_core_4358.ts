import type { ObjectStore } from '../core/ports';
export type Planted = ObjectStore;
