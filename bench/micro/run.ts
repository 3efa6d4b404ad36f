import { abortSignalBench } from './abort-signal.js'
import { authBench } from './auth.js'
import { headersBench } from './headers.js'
import { moneyBench } from './money.js'
import { hooksBench } from './hooks.js'
import { metricCellsBench } from './metric-cells.js'
import { recorderBench } from './recorder.js'
import { requestIdBench } from './request-id.js'
import { sseScannerBench } from './sse-scanner.js'
import { upstreamRouterBench } from './upstream-router.js'
import { tracingBench } from './tracing.js'
import { usageRecordBench } from './usage-record.js'

/**
 * `npm run bench:micro`: the hot path's pieces one by one (after `npm run build`).
 * `--quick` shortens every case.
 */
const timeMs = process.argv.includes('--quick') ? 100 : 400
const sections = [sseScannerBench(timeMs), headersBench(timeMs), await authBench(timeMs), await recorderBench(timeMs), metricCellsBench(timeMs), await hooksBench(timeMs), requestIdBench(timeMs), abortSignalBench(timeMs), upstreamRouterBench(timeMs), tracingBench(timeMs), await moneyBench(timeMs), usageRecordBench(timeMs)]
process.stdout.write(`Node ${process.version}\n\n${sections.join('\n\n')}\n`)
