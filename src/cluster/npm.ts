/**
 * Both ends of the cluster: the npm packages it runs on, BullMQ and ioredis,
 * imported here only, each with the declarations of what the cluster uses of
 * it (`bullmq.d.ts`, `ioredis.d.ts`, checked against the versions pinned
 * here). Their own declarations refer to Node's types, which `deno doc`
 * cannot resolve: a user reading this module's documentation would see a
 * dozen warnings about files that are not theirs.
 *
 * @module
 */

// @ts-types="./bullmq.d.ts"
export { Queue, WaitingError, Worker } from "npm:bullmq@6.7.0";
// @ts-types="./bullmq.d.ts"
export type { Job } from "npm:bullmq@6.7.0";
// @ts-types="./ioredis.d.ts"
export { Redis } from "npm:ioredis@6.0.0";
// @ts-types="./ioredis.d.ts"
export type { RedisOptions } from "npm:ioredis@6.0.0";
