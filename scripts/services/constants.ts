// Limits and pins for the throwaway services tests and benchmarks start. Units last in names.

export const kafkaVersion = '4.1.1';
// 3.3.3 is compiled for Java 21 (class file 65); 2.6.13.Final runs on Java 17 and serves
// the same /apis/ccompat/v7 API. The newer one is used whenever a Java >= 21 is found.
export const apicurioVersionNew = '3.3.3';
export const apicurioJavaMajorMinNew = 21;
export const apicurioVersionOld = '2.6.13.Final';
export const mavenDependencyPlugin = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';

export const kafkaReadyTimeoutMs = 90_000;
export const registryReadyTimeoutMs = 120_000;
export const openldapReadyTimeoutMs = 10_000;
export const dovecotReadyTimeoutMs = 15_000;
export const readyPollIntervalMs = 200;

// Java services flush logs and close segments on TERM; Kafka can take a while on 2 cores.
export const javaStopGraceMs = 20_000;
export const nativeStopGraceMs = 5_000;
export const killWaitMs = 5_000;

export const javaHeapInitialMb = 256;
export const javaHeapMaxMb = 512;

// How much of a service's output is kept for error messages and how much is shown.
export const outputLinesKept = 400;
export const outputLinesInError = 40;

export const installTimeoutMs = 15 * 60_000;
export const commandTimeoutMs = 60_000;

// Unprivileged owner of Dovecot's mail: Dovecot refuses root for mail processes.
export const dovecotMailUser = 'quire-mail';
