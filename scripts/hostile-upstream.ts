/**
 * A hostile upstream in a process of its own (see src/mock/hostile.ts): prints
 * `listening <url>` and serves until killed. Used by the limits tests and `bench/attack.ts`.
 */
import { startHostileUpstream } from '../src/mock/hostile.js'

const up = await startHostileUpstream(Number(process.env.PORT ?? 0))
process.stdout.write(`listening ${up.url}\n`)
