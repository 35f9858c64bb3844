import type { APIGatewayProxyEvent } from 'aws-lambda';
export type Planted = APIGatewayProxyEvent;
