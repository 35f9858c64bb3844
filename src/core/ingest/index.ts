/**
 * The ingestion use case (https://hl7.org/fhir/R4/http.html: create, update, batch, transaction) and `$validate`.
 * - `./ingestor`: the {@link Ingestor} use case;
 * - `./request`: reading a write request into entries;
 * - `./checks`: scopes, validation, versions, the transaction rule;
 * - `./commit`: ids and versions, lake, identity store, version index, manifest, events;
 * - `./conditional`, `./links`, `./resolve`: conditional create, the identifier index, conditional and fullUrl
 *   references, bdl-7;
 * - `./responses`: the response outcome / Bundle, {@link statusText};
 * - `./validate-operation`: {@link validateOnly}.
 */
export { Ingestor, type IngestDeps, type WriteResult } from './ingestor';
export type { Principal, PreferReturn, WriteRequest } from './request';
export type { ResourceValidator } from './checks';
export type { LakeTransform, TransformResult } from './commit';
export { IndexKeys, INDEX_KEY_LABEL } from './index-keys';
export { finishCommit, completeCommit, rollBack, cleanUp, decideCommit, isCommitOf, outboxBytes, readOutbox, OUTBOX_CONTENT_TYPE, type CommitRecord, type OutboxDeps } from './commit-record';
export type { IdentifierHasher } from './conditional';
export { statusText } from './responses';
export { validateOnly } from './validate-operation';
export { notFound } from '../../fhir/outcomes';
