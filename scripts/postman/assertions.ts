/**
 * The `pm.test` assertions of the Postman collection, as the sandbox JavaScript lines they are written as: the
 * builders the scenarios (./scenarios.ts) use, and the tests run after every request (collection level).
 */

/** The `pm.test` asserting the response status is `n`. */
export const status = (n: number): string => `pm.test('status is ${n}', function () { pm.response.to.have.status(${n}); });`;
/** A `pm.test` named `name` running `body` (Postman sandbox JavaScript). */
export const t = (name: string, body: string): string => `pm.test(${JSON.stringify(name)}, function () { ${body} });`;
/** The `pm.test` asserting an OperationOutcome issue names the FHIRPath `expr`. */
export const issueExpr = (expr: string): string =>
  t(
    `an issue names ${expr}`,
    `var ex = pm.response.json().issue.map(function (i) { return (i.expression || []).join(','); }).join(','); pm.expect(ex).to.include(${JSON.stringify(expr)});`,
  );
/** The `pm.test` asserting the first OperationOutcome issue has the code `code`. */
export const issueCode = (code: string): string =>
  t(`issue code is ${code}`, `pm.expect(pm.response.json().issue[0].code).to.eql(${JSON.stringify(code)});`);
/** The `pm.test` asserting `Allow: POST, PUT` (the answer to an interaction that is not supported). */
export const allow = t('Allow: POST, PUT', `pm.expect(pm.response.headers.get('Allow')).to.eql('POST, PUT');`);
/** The `pm.test`s of a stored resource of `type` at `version`: body, Location, ETag and Last-Modified. */
export const stored = (type: string, version: string): string[] => [
  t(`body is the stored ${type}`, `var b = pm.response.json(); pm.expect(b.resourceType).to.eql('${type}'); pm.expect(b.id).to.be.a('string').and.not.empty; pm.expect(b.meta.versionId).to.eql('${version}'); pm.expect(new Date(b.meta.lastUpdated).getTime()).to.be.above(0);`),
  t(`Location is ${type}/{id}/_history/${version}`, `var b = pm.response.json(); pm.expect(pm.response.headers.get('Location')).to.eql(pm.variables.get('baseUrl') + '/${type}/' + b.id + '/_history/${version}');`),
  t(`ETag is W/"${version}"`, `pm.expect(pm.response.headers.get('ETag')).to.eql('W/"${version}"');`),
  t('Last-Modified is an HTTP date', `pm.expect(pm.response.headers.get('Last-Modified')).to.match(/^[A-Z][a-z]{2}, \\d{2} [A-Z][a-z]{2} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT$/);`),
];
/** The `pm.test` asserting the statuses of a batch or transaction response's entries, in order. */
export const responseStatuses = (codes: string[]): string =>
  t(
    `entry statuses are ${codes.join(', ')}`,
    `pm.expect(pm.response.json().entry.map(function (e) { return e.response.status.split(' ')[0]; })).to.eql(${JSON.stringify(codes)});`,
  );

/** Assertions run after every request (collection level). */
export const COLLECTION_TESTS = [
  `if (pm.response.code !== 429) {`,
  `  pm.test('X-Request-Id is a correlation id', function () { pm.expect(pm.response.headers.get('X-Request-Id')).to.match(/^[A-Za-z0-9-]{8,64}$/); });`,
  `}`,
  `if (pm.response.text() !== '') {`,
  `  pm.test('Content-Type is application/fhir+json', function () { pm.expect(pm.response.headers.get('Content-Type')).to.match(/^application\\/fhir\\+json/); });`,
  `}`,
  `if (pm.response.code >= 400) {`,
  `  pm.test('the error is an OperationOutcome with issues', function () {`,
  `    var b = pm.response.json();`,
  `    pm.expect(b.resourceType).to.eql('OperationOutcome');`,
  `    pm.expect(b.issue).to.be.an('array').that.is.not.empty;`,
  `    b.issue.forEach(function (i) { pm.expect(i.severity).to.be.oneOf(['fatal', 'error', 'warning', 'information']); pm.expect(i.code).to.be.a('string'); });`,
  `    pm.expect(b.issue.some(function (i) { return i.severity === 'error' || i.severity === 'fatal'; })).to.eql(true);`,
  `  });`,
  `}`,
];
