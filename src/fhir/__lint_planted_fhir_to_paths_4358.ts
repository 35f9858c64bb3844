import { projectFile } from '../paths';
export const planted = projectFile;
