// The services of a node: each serves its own metrics registry on its own port.

/** Every service, in start order (web first: its port answers while the others start). */
export const SERVICES = ['web', 'callback_receiver', 'dispatcher', 'websockets'] as const;
export type ServiceName = (typeof SERVICES)[number];

/** Services that run in thread pools (web runs in the supervisor's main thread). */
export const POOLED_SERVICES = ['callback_receiver', 'dispatcher', 'websockets'] as const;
export type PooledService = (typeof POOLED_SERVICES)[number];
