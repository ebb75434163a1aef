/**
 * The registry: every service the offline runtime serves, one line each. Adding a service is one folder under
 * `local/services/` and one line here. (Filled in as the services move behind `local/core/registry.ts`.)
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface ServiceInstances {}
