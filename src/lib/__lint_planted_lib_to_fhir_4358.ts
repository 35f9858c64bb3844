import { ClientError } from '../fhir/errors';
export const planted = ClientError;
