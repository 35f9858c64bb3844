/** The trivial Lambda handler the benchmark serves under serverless-offline: the framework's own ceiling. */
export async function handler(): Promise<{ statusCode: number; headers: Record<string, string>; body: string }> {
  return { statusCode: 201, headers: { 'Content-Type': 'application/fhir+json' }, body: '{"resourceType":"OperationOutcome","issue":[]}' };
}
