// Why a snapshot is refused: the words of the cluster code, imported by the metrics catalog for
// its `reason` label (a module of its own, so that the catalog does not import the snapshot code).

/**
 * Why a node's snapshot was left out of /api/v2/metrics or refused by the relay endpoint (replay: not
 * newer than one already accepted from that node; oversized: a frame over the relay's limit).
 */
export const REJECT_REASONS = ['malformed', 'format', 'expired', 'signature', 'replay', 'oversized'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];
