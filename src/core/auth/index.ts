/** Authentication and authorisation: token verification, the principal, SMART scope checks. */
export * from './principal';
export * from './verifier';
export {
  parseScopes,
  canWrite,
  canValidate,
  can,
  checkEntryScopes,
  requireScope,
  refusalMessage,
  insufficientScopeChallenge,
  type SmartScope,
  type ScopePermission,
  type ScopedInteraction,
  type ScopeHolder,
  type EntryScopeCheck,
  type EntryRefusal,
} from '../../fhir/auth/scopes';
