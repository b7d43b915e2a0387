// The directory's public face: what the server, the CLI and the protocols import.

export {
  normalizeAddress,
  normalizeDomain,
  parseSize,
  validatePassword,
  type AddUserInput,
  type Clock,
  type Directory,
  type DirectoryGroup,
  type DirectoryUser,
  type RandomBytes,
} from './directory.js';
export {
  EmbeddedDirectory,
  directoryFolderName,
  lockFileName,
  logFileName,
  nodeDirectoryOptions,
  openEmbeddedDirectory,
  type EmbeddedDirectoryOptions,
} from './embedded.js';
export { PasswordHasher, productionScryptParams, type ScryptParams } from './password.js';
export {
  ensureTlsCertificate,
  generatePassword,
  generatedPasswordLength,
  tlsCertFileName,
  tlsFolderName,
  tlsKeyFileName,
  tlsValidityDays,
  type TlsMaterial,
  type TlsOptions,
} from './secrets.js';
export {
  LdapDirectory,
  addressFilter,
  ldapAttributesDefault,
  mailboxIdOf,
  parseLdapConfig,
  type LdapAttributeMap,
  type LdapConfig,
  type LdapDirectoryOptions,
} from './ldap.js';
