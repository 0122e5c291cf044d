'use strict'
// Starts a kavka broker for one test: free port, temp data dir, log file.
// The binary comes from $KAVKA_BIN, else <repo>/target/debug/kavka.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const REPO_ROOT = path.resolve(__dirname, '..', '..', '..')
const READY_TIMEOUT_MS = 15000
const STOP_TIMEOUT_MS = 20000

function kavkaBin() {
  const bin = process.env.KAVKA_BIN || path.join(REPO_ROOT, 'target', 'debug', 'kavka')
  try {
    fs.accessSync(bin, fs.constants.X_OK)
  } catch {
    throw new Error(`kavka binary not found at ${bin}: run cargo build --bin kavka or set KAVKA_BIN`)
  }
  return bin
}

const READY_MARK = 'kavka is ready listener='

function portAccepts(port) {
  return new Promise(resolve => {
    const sock = net.connect({ host: '127.0.0.1', port })
    const done = ok => {
      sock.destroy()
      resolve(ok)
    }
    sock.setTimeout(500, () => done(false))
    sock.once('connect', () => done(true))
    sock.once('error', () => done(false))
  })
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

class Broker {
  constructor(overrides = {}) {
    this.bin = kavkaBin()
    this.workdir = fs.mkdtempSync(path.join(os.tmpdir(), 'kavka-node-'))
    this.dataDir = path.join(this.workdir, 'data')
    fs.mkdirSync(this.dataDir)
    this.logPath = path.join(this.workdir, 'broker.log')
    this.overrides = overrides
    // 0 until the first start: the broker binds a port the OS picks (no race between test
    // files running in parallel) and names it in its ready line; restarts reuse it.
    this.port = 0
    this.proc = null
    this.exit = null
    this.stoppedOnPurpose = false
  }

  get bootstrap() {
    return `127.0.0.1:${this.port}`
  }

  args() {
    const props = {
      listeners: `PLAINTEXT://127.0.0.1:${this.port}`,
      'log.dirs': this.dataDir,
      'num.partitions': '1',
      // /metrics on a port the OS picks: no test takes the default 9644.
      'kavka.http.listener': '127.0.0.1:0',
      ...this.overrides,
    }
    const args = ['server']
    for (const [k, v] of Object.entries(props)) args.push('--override', `${k}=${v}`)
    return args
  }

  async start() {
    const args = this.args()
    const logOffset = fs.existsSync(this.logPath) ? fs.statSync(this.logPath).size : 0
    fs.appendFileSync(this.logPath, `\n===== kavka start: ${this.bin} ${args.join(' ')}\n`)
    const fd = fs.openSync(this.logPath, 'a')
    this.exit = null
    this.stoppedOnPurpose = false
    const proc = spawn(this.bin, args, {
      cwd: this.workdir,
      stdio: ['ignore', fd, fd],
      // The ready line is logged at INFO.
      env: { RUST_BACKTRACE: '1', ...process.env, RUST_LOG: process.env.KAVKA_TEST_LOG || 'info' },
    })
    fs.closeSync(fd)
    this.proc = proc
    this.exited = new Promise(resolve => {
      proc.once('exit', (code, signal) => {
        this.exit = { code, signal }
        resolve(this.exit)
      })
    })
    const deadline = Date.now() + READY_TIMEOUT_MS
    while (Date.now() < deadline) {
      if (this.exit) {
        throw new Error(`kavka exited during startup (${JSON.stringify(this.exit)})\n${this.logTail()}`)
      }
      const text = fs.readFileSync(this.logPath).subarray(logOffset).toString('utf8')
      const at = text.indexOf(READY_MARK)
      if (at >= 0) {
        const addr = text.slice(at + READY_MARK.length).split(/\s/)[0]
        this.port = Number(addr.slice(addr.lastIndexOf(':') + 1))
        if (await portAccepts(this.port)) return this
      }
      await sleep(50)
    }
    await this.kill()
    throw new Error(`kavka did not accept connections on ${this.bootstrap} in ${READY_TIMEOUT_MS} ms\n${this.logTail()}`)
  }

  running() {
    return this.proc !== null && this.exit === null
  }

  // SIGTERM, wait for the exit; resolves to { code, signal }.
  async stop() {
    this.stoppedOnPurpose = true
    if (!this.running()) return this.exit
    this.proc.kill('SIGTERM')
    let timer
    const timeout = new Promise(resolve => {
      timer = setTimeout(() => resolve('timeout'), STOP_TIMEOUT_MS)
    })
    const outcome = await Promise.race([this.exited, timeout])
    clearTimeout(timer)
    if (outcome === 'timeout') {
      this.proc.kill('SIGKILL')
      await this.exited
      throw new Error(`kavka did not exit within ${STOP_TIMEOUT_MS} ms of SIGTERM\n${this.logTail()}`)
    }
    return this.exit
  }

  async kill() {
    this.stoppedOnPurpose = true
    if (!this.running()) return this.exit
    this.proc.kill('SIGKILL')
    return this.exited
  }

  logTail(limit = 64 * 1024) {
    try {
      const data = fs.readFileSync(this.logPath)
      const cut = data.length > limit ? `<... ${data.length - limit} bytes cut ...>\n` : ''
      return cut + data.subarray(Math.max(0, data.length - limit)).toString('utf8')
    } catch (e) {
      return `<no broker log: ${e.message}>`
    }
  }
}

// Runs fn(broker) against a fresh broker. A failure gets the broker log
// appended to its message; a broker that died on its own fails the test.
async function withBroker(overrides, fn) {
  if (typeof overrides === 'function') [overrides, fn] = [{}, overrides]
  const broker = new Broker(overrides)
  await broker.start()
  let failed = true
  try {
    await fn(broker)
    failed = false
  } catch (e) {
    if (e && typeof e === 'object') {
      try {
        e.message = `${e.message}\n----- kavka broker log (${broker.logPath}) -----\n${broker.logTail()}`
      } catch {
        // read-only message: leave it
      }
    }
    throw e
  } finally {
    const diedOnItsOwn = !broker.stoppedOnPurpose && !broker.running()
    await broker.stop().catch(() => broker.kill())
    if (diedOnItsOwn && !failed) {
      // eslint-disable-next-line no-unsafe-finally
      throw new Error(`kavka died during the test (${JSON.stringify(broker.exit)})\n${broker.logTail()}`)
    }
    if (!failed) fs.rmSync(broker.workdir, { recursive: true, force: true })
  }
}

module.exports = { Broker, withBroker, sleep }
