#!/usr/bin/env node
import { parseArgs } from 'node:util'
import { adminClient, CliError } from './admin-client.js'
import { auditCommand, KEY_FLAGS, keysCommand, TEAM_FLAGS, teamsCommand, usageCommand, type CommandContext, type Flags } from './commands.js'

const HELP = `comet-gateway: an OpenAI-compatible LLM gateway in front of CometAPI

Usage:
  comet-gateway [serve]                     run the gateway (configuration from the environment)
  comet-gateway keys create --name NAME [fields]
  comet-gateway keys list
  comet-gateway keys get ID
  comet-gateway keys update ID [fields]
  comet-gateway keys rotate ID [--grace SECONDS]   new secret, same key; the old one works SECONDS more (default 0, at most 604800)
  comet-gateway keys revoke ID
  comet-gateway teams create --name NAME [fields]
  comet-gateway teams list
  comet-gateway teams get ID
  comet-gateway teams update ID [fields]
  comet-gateway teams delete ID               refused while the team has keys that are not revoked
  comet-gateway usage [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--group-by key,team,model,day]
                      [--key ID] [--team ID|none] [--model NAME]
  comet-gateway audit [--from DATE] [--to DATE] [--target ID] [--action key.create|…]

Key fields (numbers take "none" to clear a limit):
  --name NAME                 unique among keys that are not revoked
  --rpm N  --tpm N            requests / tokens per minute
  --max-concurrency N         open requests at a time
  --budget-usd USD            spend budget; --budget-period day|month|total (default month)
  --models a,b*               allowed models, exact names or * patterns ("none": all)
  --routes a,b*               allowed routes below /v1, * patterns ("default": the default set)
  --expires-at ISO-8601       e.g. 2026-12-31T23:59:59Z ("none": never)
  --cache-ttl-seconds N       response cache for this key
  --metadata k=v              a label (repeatable), e.g. --metadata owner=search
  --team ID                   keys only: the team the key belongs to ("none": leave it)

Team fields: --name, --rpm, --tpm, --max-concurrency, --budget-usd, --budget-period,
--models, --metadata, as for keys; each key of a team counts against both.

Options for keys, teams, usage and audit (they talk to a running gateway's admin API):
  --url URL                   default http://127.0.0.1:$PORT (PORT default 8080)
  --admin-key KEY             default $ADMIN_KEY
  --json                      machine-readable output
  -h, --help                  this help

Exit codes: 0 done, 1 the gateway refused or could not be reached, 2 bad usage.
`

const OPTIONS = {
  url: { type: 'string' },
  'admin-key': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  name: { type: 'string' },
  rpm: { type: 'string' },
  tpm: { type: 'string' },
  'max-concurrency': { type: 'string' },
  'budget-usd': { type: 'string' },
  'budget-period': { type: 'string' },
  models: { type: 'string', multiple: true },
  routes: { type: 'string', multiple: true },
  'expires-at': { type: 'string' },
  'cache-ttl-seconds': { type: 'string' },
  metadata: { type: 'string', multiple: true },
  from: { type: 'string' },
  to: { type: 'string' },
  'group-by': { type: 'string' },
  team: { type: 'string' },
  grace: { type: 'string' },
  key: { type: 'string' },
  model: { type: 'string' },
  target: { type: 'string' },
  action: { type: 'string' }
} as const

const CLIENT_FLAGS = ['url', 'admin-key', 'json', 'help']
/** Which flags each command takes beyond url/admin-key/json/help. */
const COMMAND_FLAGS: Record<string, readonly string[]> = {
  'keys create': KEY_FLAGS,
  'keys update': KEY_FLAGS,
  'keys list': [],
  'keys get': [],
  'keys revoke': [],
  'keys rotate': ['grace'],
  'teams create': TEAM_FLAGS,
  'teams update': TEAM_FLAGS,
  'teams list': [],
  'teams get': [],
  'teams delete': [],
  usage: ['from', 'to', 'group-by', 'key', 'team', 'model'],
  audit: ['from', 'to', 'target', 'action']
}

/**
 * `--budget-usd -3` as `--budget-usd=-3`: parseArgs would call a value that starts with a
 * dash ambiguous; a negative number is a value, and the command then says what is wrong
 * with it.
 */
function joinNegativeNumbers (argv: readonly string[]): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    const next = argv[i + 1]
    const name = arg.startsWith('--') ? arg.slice(2) : undefined
    if (name !== undefined && (OPTIONS as Record<string, { type: string }>)[name]?.type === 'string' && next !== undefined && /^-\d/.test(next)) {
      out.push(`${arg}=${next}`)
      i++
    } else {
      out.push(arg)
    }
  }
  return out
}

function parse (argv: readonly string[]): { flags: Flags, positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args: joinNegativeNumbers(argv), options: OPTIONS, allowPositionals: true, strict: true })
    return { flags: values as Flags, positionals }
  } catch (err) {
    throw new CliError(`${(err as Error).message.split('\n')[0]} (see --help)`, 2)
  }
}

function checkFlags (command: string, flags: Flags): void {
  const allowed = COMMAND_FLAGS[command]
  if (allowed === undefined) return
  for (const flag of Object.keys(flags)) {
    if (!CLIENT_FLAGS.includes(flag) && !allowed.includes(flag)) throw new CliError(`${command} does not take --${flag} (see --help)`, 2)
  }
}

export interface CliIo {
  readonly env: NodeJS.ProcessEnv
  readonly stdout: (text: string) => void
  readonly stderr: (text: string) => void
}

/**
 * Runs the command line and answers the exit code; never exits the process itself, so
 * `serve` can keep running and tests can call it.
 * @example process.exitCode = await runCli(process.argv.slice(2), io)
 */
export async function runCli (argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const { flags, positionals } = parse(argv)
    const command = positionals[0] ?? 'serve'
    if (flags.help === true) { io.stdout(HELP); return 0 }
    if (command === 'serve') {
      if (positionals.length > 1) throw new CliError('serve takes no arguments: configure it with environment variables (see README)', 2)
      const { serve } = await import('../main.js')
      await serve(io.env)
      return 0
    }
    if (command === 'help') { io.stdout(HELP); return 0 }
    if (command !== 'keys' && command !== 'teams' && command !== 'usage' && command !== 'audit') throw new CliError(`unknown command "${command}" (see --help)`, 2)
    checkFlags(command === 'keys' || command === 'teams' ? `${command} ${positionals[1] ?? ''}` : command, flags)
    const url = typeof flags.url === 'string' ? flags.url : `http://127.0.0.1:${io.env.PORT || 8080}`
    if (!/^https?:\/\//.test(url)) throw new CliError(`--url must start with http:// or https://, not "${url}"`, 2)
    const ctx: CommandContext = {
      call: adminClient({ url, adminKey: typeof flags['admin-key'] === 'string' ? flags['admin-key'] : io.env.ADMIN_KEY }),
      flags,
      json: flags.json === true,
      write: io.stdout
    }
    if (command === 'keys') await keysCommand(ctx, positionals)
    else if (command === 'teams') await teamsCommand(ctx, positionals)
    else if (command === 'audit') await auditCommand(ctx)
    else await usageCommand(ctx)
    return 0
  } catch (err) {
    if (err instanceof CliError) {
      io.stderr(`comet-gateway: ${err.message}\n`)
      return err.exitCode
    }
    io.stderr(`comet-gateway: ${(err as Error).message}\n`)
    return 1
  }
}

const io: CliIo = {
  env: process.env,
  stdout: (text) => { process.stdout.write(text) },
  stderr: (text) => { process.stderr.write(text) }
}

if ((process.argv[1] ?? '').replace(/\\/g, '/').match(/\/(cli\/main|comet-gateway)(\.js)?$/) !== null) {
  // A reader that stops early (`| head`) closes the pipe: that ends the output, not in an error.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err
    process.exit(process.exitCode ?? 0)
  })
  runCli(process.argv.slice(2), io).then((code) => { if (code !== 0) process.exitCode = code }, (err: unknown) => {
    process.stderr.write(`comet-gateway: ${(err as Error).message}\n`)
    process.exitCode = 1
  })
}
