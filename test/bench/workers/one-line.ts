// The smallest TypeScript module: what loading any .ts file costs a thread (module-cost.bench.ts).
export const nothing: number = 0;
