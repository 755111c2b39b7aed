/**
 * The pointer format of docs/SPEC.md (pb1 and pb2) and the blobs of docs/SPEC-blobs.md,
 * written from the spec alone: the second implementation beside the Python core.
 */
export const VERSIONS = ["1", "2"] as const;
