import { getApp } from '../bootstrap';
export const planted = getApp;
