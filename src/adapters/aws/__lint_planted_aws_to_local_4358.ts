import { MemoryObjectStore } from '../local/memory-object-store';
export const planted = MemoryObjectStore;
