import { MemoryObjectStore } from '../adapters/local/memory-object-store';
export const planted = MemoryObjectStore;
