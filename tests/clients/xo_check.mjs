#!/usr/bin/env node
// Xen Orchestra's XenAPI connector (npm `xen-api`, unmodified) against a
// XenAPI server: one PASS/FAIL line per check on stdout, exit status 0 when
// every check passed, 1 when one failed, 2 when it could not connect.
//
//   node xo_check.mjs --url http://127.0.0.1:PORT --user U --password P
//        [--transport json-rpc|xml-rpc|auto] --vm NAME [--timeout SECONDS]
//
// --vm names a halted VM the checks start and stop again.  What the library
// does on the wire is described in /work/shared/reference/clients-and-peers.md
// §A1: login with two arguments, pool.get_all_records, system.listMethods,
// event.inject + event.from (or the legacy register/next), Async.* calls
// settled through task events, barrier() on pool.other_config.
import { createClient } from 'xen-api'

function parseArgs(argv) {
  const opts = { transport: 'auto', timeout: 20 }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (!a.startsWith('--') || i + 1 >= argv.length) {
      console.error(`usage: xo_check.mjs --url URL --user U --password P [--transport T] --vm NAME`)
      process.exit(2)
    }
    opts[a.slice(2)] = argv[++i]
  }
  opts.timeout = Number(opts.timeout)
  return opts
}

const opts = parseArgs(process.argv.slice(2))
const results = []

function report(name, ok, detail = '') {
  results.push(ok)
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? ': ' + detail : ''}`)
}

function withTimeout(promise, what, seconds = opts.timeout) {
  let timer
  const timeout = new Promise((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${seconds}s waiting for ${what}`)), seconds * 1e3)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

// Runs fn; a throw is a FAIL with its message.  Returns fn's value or undefined.
async function check(name, fn) {
  try {
    const detail = await withTimeout(Promise.resolve().then(fn), name)
    report(name, true, typeof detail === 'string' ? detail : '')
    return detail
  } catch (error) {
    report(name, false, error?.code ? `${error.code}(${(error.params ?? []).join(', ')})` : String(error?.message ?? error))
    return undefined
  }
}

async function expectXapiError(promise, code) {
  try {
    await promise
  } catch (error) {
    if (error?.code !== code) {
      throw new Error(`expected ${code}, got ${error?.code ?? error?.message ?? error}`)
    }
    return error
  }
  throw new Error(`expected ${code}, the call succeeded`)
}

// Waits until the library's object cache (fed by the event stream only)
// shows pred true for the object.
async function waitCached(xapi, ref, pred, what) {
  for (;;) {
    const obj = xapi.getObjectByRef(ref, undefined)
    if (obj !== undefined && pred(obj)) return obj
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

function assert(cond, message) {
  if (!cond) throw new Error(message)
}

const xapi = createClient({
  url: opts.url,
  auth: { user: opts.user, password: opts.password },
  allowUnauthorized: true,
  transport: opts.transport,
})

let exitCode = 0
try {
  await withTimeout(xapi.connect(), 'connect')
  report('connect', xapi.status === 'connected' && xapi.pool !== null, `pool ${xapi.pool?.$ref} over ${opts.transport}`)
} catch (error) {
  report('connect', false, error?.code ? `${error.code}(${(error.params ?? []).join(', ')})` : String(error?.message ?? error))
  process.exit(2)
}

try {
  await check('fetch-all', async () => {
    await xapi.objectsFetched
    const all = Object.values(xapi.objects.all)
    const types = new Set(all.map(o => o.$type))
    for (const t of ['pool', 'host', 'VM', 'SR', 'network', 'task']) {
      if (t !== 'task') assert(types.has(t), `no ${t} objects in the cache (types: ${[...types].join(',')})`)
    }
    return `${all.length} objects of ${types.size} types`
  })

  const vm = await check('list-vms', async () => {
    const vms = await xapi.getAllRecords('VM')
    const dom0 = vms.find(v => v.is_control_domain)
    assert(dom0 !== undefined && dom0.power_state === 'Running', 'no running control domain')
    const mine = vms.filter(v => v.name_label === opts.vm && !v.is_a_template)
    assert(mine.length === 1, `${mine.length} VMs named ${opts.vm}`)
    assert(mine[0].power_state === 'Halted', `${opts.vm} is ${mine[0].power_state}`)
    return mine[0]
  })

  await check('error-handle-invalid', async () => {
    const bogus = 'OpaqueRef:00000000-0000-4000-8000-000000000000'
    const error = await expectXapiError(xapi.call('VM.get_record', bogus), 'HANDLE_INVALID')
    assert(error.params[0] === 'VM' && error.params[1] === bogus, `params ${error.params}`)
  })

  await check('error-method-unknown', async () => {
    const error = await expectXapiError(xapi.call('VM.no_such_message', 'x'), 'MESSAGE_METHOD_UNKNOWN')
    assert(error.params[0] === 'VM.no_such_message', `params ${error.params}`)
  })

  await check('barrier', async () => {
    // pool.add_to_other_config, then the pool's mod event through event.from
    const pool = await xapi.barrier(xapi.pool.$ref)
    assert(pool !== undefined && pool.$type === 'pool', 'barrier did not return the pool')
    return `event watcher saw the pool mod`
  })

  if (vm === undefined) {
    report('async-start', false, 'no VM to start')
  } else {
    const ref = vm.$ref
    const started = await check('async-start', async () => {
      const result = await xapi.callAsync('VM.start', ref, false, false)
      assert(result === '', `void task result should decode to '', got ${JSON.stringify(result)}`)
      return 'task settled through events'
    })

    await check('vm-running-in-cache', async () => {
      assert(started !== undefined, 'the start failed')
      const obj = await waitCached(xapi, ref, o => o.power_state === 'Running', 'Running')
      assert(Number(obj.domid) > 0, `domid ${obj.domid}`)
      return `domid ${obj.domid} on ${obj.resident_on}`
    })

    await check('error-bad-power-state', async () => {
      const error = await expectXapiError(xapi.call('VM.start', ref, false, false), 'VM_BAD_POWER_STATE')
      assert(error.params[0] === ref && error.params[2] === 'running', `params ${error.params}`)
    })

    await check('async-error-bad-power-state', async () => {
      // the failure comes back as the task's error_info
      const error = await expectXapiError(xapi.callAsync('VM.start', ref, false, false), 'VM_BAD_POWER_STATE')
      assert(error.params[0] === ref, `params ${error.params}`)
    })

    await check('async-hard-shutdown', async () => {
      await xapi.callAsync('VM.hard_shutdown', ref)
      await waitCached(xapi, ref, o => o.power_state === 'Halted', 'Halted')
    })

    await check('tasks-destroyed', async () => {
      // callAsync destroys its tasks once settled; the del events empty the cache
      const mine = () =>
        Object.values(xapi.objects.all).filter(
          o => o.$type === 'task' && /^Async\.VM\.(start|hard_shutdown)$/.test(o.name_label)
        )
      while (mine().length) await new Promise(resolve => setTimeout(resolve, 20))
    })
  }

  await check('disconnect', async () => {
    await xapi.disconnect()
    assert(xapi.status === 'disconnected', `status ${xapi.status}`)
  })
} catch (error) {
  report('unexpected', false, String(error?.stack ?? error))
}

exitCode = results.every(Boolean) ? 0 : 1
process.exit(exitCode)
