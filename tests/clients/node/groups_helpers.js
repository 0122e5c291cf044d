'use strict'
// Shared helpers for the kafkajs consumer-group tests (groups*.test.js):
// broker overrides, waits with deadlines, topic/produce helpers, a wrapper
// around a kafkajs group consumer that records what it joined and received,
// and a group member run in a child process (group_member.js) that a test
// can SIGKILL.

const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const path = require('node:path')
const { AssignerProtocol } = require('kafkajs')
const { kafka, producer } = require('./kjs')
const { indexOf } = require('./data')

// Fast group formation, few offsets-topic partitions.
const GROUP_OVERRIDES = {
  'group.initial.rebalance.delay.ms': '100',
  'offsets.topic.num.partitions': '5',
}

// Consumer timings: members notice a rebalance through Heartbeat, which
// kafkajs sends only between fetches / messages, so fetches must be short.
const MEMBER_DEFAULTS = {
  sessionTimeout: 6000,
  rebalanceTimeout: 15000,
  heartbeatInterval: 300,
  maxWaitTimeInMs: 200,
}

let uniq = 0
// Receipt order across all members of this process (set on each message).
let receiptSeq = 0
// A unique name per call (topic, group).
function unique(prefix) {
  uniq += 1
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${uniq}`
}

function groupKafka(bootstrap) {
  return kafka(bootstrap, { retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 } })
}

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

// Polls fn() until it returns a truthy value (returned) or the deadline
// passes (throws, naming `what` and describing the last value / error).
async function waitFor(what, fn, timeoutMs, { intervalMs = 50, describe = null } = {}) {
  const start = Date.now()
  let last
  let lastError = null
  while (true) {
    try {
      last = await fn()
      lastError = null
      if (last) return last
    } catch (e) {
      if (e && e.fatal) throw e
      lastError = e
    }
    if (Date.now() - start > timeoutMs) {
      let detail = ''
      try {
        detail = describe ? await describe() : JSON.stringify(last)
      } catch (e) {
        detail = `<describe failed: ${e.message}>`
      }
      const err = lastError ? `; last error: ${lastError.stack || lastError}` : ''
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${detail}${err}`)
    }
    await sleep(intervalMs)
  }
}

async function withAdmin(k, fn) {
  const admin = k.admin()
  await admin.connect()
  try {
    return await fn(admin)
  } finally {
    await admin.disconnect()
  }
}

async function createTopic(admin, topic, numPartitions) {
  assert.equal(
    await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1 }], waitForLeaders: true }),
    true,
    `createTopics ${topic}`
  )
}

// Sends the records (data.makeRecords shape) keyed, acks=-1, in chunks.
async function produce(k, topic, recs, chunk = 500) {
  const p = producer(k)
  await p.connect()
  try {
    for (let start = 0; start < recs.length; start += chunk) {
      const result = await p.send({
        topic,
        acks: -1,
        messages: recs.slice(start, start + chunk).map(r => ({
          key: r.key,
          value: r.value,
          headers: r.headers,
          timestamp: String(r.timestamp),
        })),
      })
      for (const m of result) assert.equal(m.errorCode, 0, `produce error ${JSON.stringify(m)}`)
    }
  } finally {
    await p.disconnect()
  }
}

// {partition: high watermark (number)}
async function endOffsets(admin, topic) {
  const out = {}
  for (const o of await admin.fetchTopicOffsets(topic)) out[o.partition] = Number(o.high)
  return out
}

// {partition: {offset: number, metadata}} for one topic of a group.
async function committed(admin, groupId, topic) {
  const res = await admin.fetchOffsets({ groupId, topics: [topic] })
  const t = res.find(x => x.topic === topic)
  assert.ok(t, `fetchOffsets(${groupId}) has no entry for ${topic}: ${JSON.stringify(res)}`)
  const out = {}
  for (const p of t.partitions) out[p.partition] = { offset: Number(p.offset), metadata: p.metadata }
  return out
}

const offsetsOnly = c => Object.fromEntries(Object.entries(c).map(([p, v]) => [p, v.offset]))

// Waits until the group's committed offsets for topic equal `want`
// ({partition: offset}); returns the elapsed ms.
async function waitCommitted(admin, groupId, topic, want, timeoutMs = 15000) {
  const start = Date.now()
  let last = null
  await waitFor(
    `${groupId} committed offsets on ${topic} = ${JSON.stringify(want)}`,
    async () => {
      last = offsetsOnly(await committed(admin, groupId, topic))
      return Object.entries(want).every(([p, o]) => last[p] === Number(o))
    },
    timeoutMs,
    { intervalMs: 100, describe: () => JSON.stringify(last) }
  )
  return Date.now() - start
}

function sortedAssignment(assignment) {
  const out = {}
  for (const t of Object.keys(assignment || {}).sort()) {
    const parts = [...assignment[t]].map(Number).sort((a, b) => a - b)
    if (parts.length) out[t] = parts
  }
  return out
}

// A kafkajs group consumer that records its GROUP_JOINs, crashes and the
// messages it receives (per partition, in order).
class Member {
  constructor(k, { groupId, topic, name, fromBeginning = true, ...opts }) {
    this.name = name
    this.groupId = groupId
    this.topic = topic
    this.fromBeginning = fromBeginning
    this.consumer = k.consumer({ groupId, ...MEMBER_DEFAULTS, ...opts })
    this.joins = [] // {at, memberId, assignment, isLeader}
    this.crashes = []
    this.commits = []
    this.fetches = 0
    this.received = {} // partition -> [message]
    this.count = 0
    this.running = false
    const ev = this.consumer.events
    this.consumer.on(ev.GROUP_JOIN, e => {
      this.joins.push({
        at: Date.now(),
        memberId: e.payload.memberId,
        isLeader: e.payload.isLeader,
        assignment: sortedAssignment(e.payload.memberAssignment),
      })
    })
    this.fatal = null
    this.crashTypes = []
    this.consumer.on(ev.CRASH, e => {
      const err = e.payload.error
      const msg = `${err && err.name}: ${err && err.message} (restart=${e.payload.restart})`
      this.crashes.push(msg)
      this.crashTypes.push((err && (err.type || (err.cause && err.cause.type))) || (err && err.name))
      if (!e.payload.restart) this.fatal = msg
    })
    this.consumer.on(ev.COMMIT_OFFSETS, e => this.commits.push({ at: Date.now(), topics: e.payload.topics }))
    this.consumer.on(ev.FETCH, () => {
      this.fetches += 1
    })
  }

  get lastJoin() {
    return this.joins[this.joins.length - 1] || null
  }

  get memberId() {
    return this.lastJoin && this.lastJoin.memberId
  }

  // Latest assignment of this member's topic (sorted partitions), [] if none.
  get partitions() {
    const j = this.lastJoin
    return (j && j.assignment[this.topic]) || []
  }

  async start(runOpts = {}) {
    await this.consumer.connect()
    await this.consumer.subscribe({ topic: this.topic, fromBeginning: this.fromBeginning })
    this.running = true
    const onMessage = runOpts.onMessage
    const rest = { ...runOpts }
    delete rest.onMessage
    await this.consumer.run({
      eachMessage: async ({ partition, message }) => {
        message.receiptSeq = receiptSeq++
        ;(this.received[partition] ||= []).push(message)
        this.count += 1
        if (onMessage) await onMessage(partition, message)
      },
      ...rest,
    })
  }

  async stop() {
    if (!this.running) return
    this.running = false
    await this.consumer.disconnect()
  }

  describe() {
    return `${this.name}(${this.memberId}): joins=${this.joins.length} partitions=${JSON.stringify(this.partitions)} ` +
      `received=${this.count} crashes=${JSON.stringify(this.crashes)}`
  }
}

// A group member in a child process (group_member.js), for SIGKILL.
class ChildMember {
  constructor({ bootstrap, groupId, topic, name, ...opts }) {
    this.name = name
    this.topic = topic
    this.joins = []
    this.lines = []
    this.stderr = ''
    this.exit = null
    const cfg = { bootstrap, groupId, topic, ...MEMBER_DEFAULTS, ...opts }
    this.proc = spawn(process.execPath, [path.join(__dirname, 'group_member.js'), JSON.stringify(cfg)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    this.exited = new Promise(resolve => {
      this.proc.once('exit', (code, signal) => {
        this.exit = { code, signal }
        resolve(this.exit)
      })
    })
    let buf = ''
    this.proc.stdout.on('data', d => {
      buf += d.toString('utf8')
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        this.lines.push(line)
        try {
          const ev = JSON.parse(line)
          if (ev.event === 'join') {
            this.joins.push({ at: Date.now(), memberId: ev.memberId, assignment: sortedAssignment(ev.assignment) })
          }
        } catch {
          // not ours (kafkajs logs go to stderr anyway)
        }
      }
    })
    this.proc.stderr.on('data', d => {
      this.stderr = (this.stderr + d.toString('utf8')).slice(-8000)
    })
  }

  get lastJoin() {
    return this.joins[this.joins.length - 1] || null
  }

  get memberId() {
    return this.lastJoin && this.lastJoin.memberId
  }

  get partitions() {
    const j = this.lastJoin
    return (j && j.assignment[this.topic]) || []
  }

  kill() {
    if (this.exit === null) this.proc.kill('SIGKILL')
    return this.exited
  }

  describe() {
    return `${this.name}(child ${this.proc.pid}, ${this.memberId}): joins=${this.joins.length} ` +
      `partitions=${JSON.stringify(this.partitions)} exit=${JSON.stringify(this.exit)} ` +
      `stdout=${JSON.stringify(this.lines.slice(-5))} stderr=${JSON.stringify(this.stderr.slice(-2000))}`
  }
}

async function describeGroup(admin, groupId) {
  const { groups } = await admin.describeGroups([groupId])
  const g = groups.find(x => x.groupId === groupId)
  assert.ok(g, `describeGroups has no ${groupId}: ${JSON.stringify(groups)}`)
  return g
}

// {memberId: assignment} decoded from a DescribeGroups answer.
function describedAssignments(group) {
  const out = {}
  for (const m of group.members) {
    const decoded = AssignerProtocol.MemberAssignment.decode(m.memberAssignment)
    out[m.memberId] = sortedAssignment(decoded ? decoded.assignment : {})
  }
  return out
}

// Checks that the members' latest assignments of `topic` are disjoint and
// cover 0..nPartitions-1; returns an error string or null.
function ownershipProblem(members, topic, nPartitions) {
  const owner = new Map()
  for (const m of members) {
    if (!m.lastJoin) return `${m.name} has not joined`
    for (const p of m.partitions) {
      if (owner.has(p)) return `partition ${p} owned by ${owner.get(p)} and ${m.name}`
      owner.set(p, m.name)
    }
  }
  for (let p = 0; p < nPartitions; p++) if (!owner.has(p)) return `partition ${p} has no owner`
  if (owner.size !== nPartitions) return `unexpected partitions ${[...owner.keys()]}`
  return null
}

// Waits until the group is Stable with exactly `members` (by member id),
// their latest GROUP_JOIN assignments partition the topic, and DescribeGroups
// shows the same assignments. Returns {elapsed, group}.
async function waitStable(admin, groupId, members, topic, nPartitions, timeoutMs = 20000) {
  const start = Date.now()
  let state = ''
  const group = await waitFor(
    `group ${groupId} stable with ${members.map(m => m.name)}`,
    async () => {
      for (const m of members) {
        if (m.fatal) throw Object.assign(new Error(`${m.name} crashed for good: ${m.fatal}`), { fatal: true })
      }
      const problem = ownershipProblem(members, topic, nPartitions)
      if (problem) {
        state = problem
        return null
      }
      const g = await describeGroup(admin, groupId)
      state = `${g.state} members=${g.members.map(m => m.memberId)}`
      if (g.state !== 'Stable') return null
      const ids = g.members.map(m => m.memberId).sort()
      const want = members.map(m => m.memberId).sort()
      if (JSON.stringify(ids) !== JSON.stringify(want)) return null
      const desc = describedAssignments(g)
      for (const m of members) {
        const d = (desc[m.memberId] || {})[topic] || []
        if (JSON.stringify(d) !== JSON.stringify(m.partitions)) {
          state = `DescribeGroups assigns ${JSON.stringify(d)} to ${m.name}, its GROUP_JOIN ${JSON.stringify(m.partitions)}`
          return null
        }
      }
      return g
    },
    timeoutMs,
    { intervalMs: 100, describe: () => `${state}; ${members.map(m => m.describe()).join('; ')}` }
  )
  return { elapsed: Date.now() - start, group }
}

// Merges the members' received messages per partition, in the order they
// were received (across members).
function mergedReceived(members) {
  const got = {}
  for (const m of members) {
    for (const [p, msgs] of Object.entries(m.received)) (got[p] ||= []).push(...msgs)
  }
  for (const msgs of Object.values(got)) msgs.sort((a, b) => a.receiptSeq - b.receiptSeq)
  return got
}

// Asserts that across `members` every offset [from[p], to[p]) of every
// partition arrived exactly once; returns the record indexes seen.
function assertExactlyOnce(members, from, to) {
  const got = mergedReceived(members)
  const seen = new Set()
  for (const p of Object.keys(to)) {
    const offsets = (got[p] || []).map(m => Number(m.offset))
    const want = []
    for (let o = from[p] || 0; o < to[p]; o++) want.push(o)
    if (JSON.stringify(offsets) !== JSON.stringify(want)) {
      const sorted = [...offsets].sort((a, b) => a - b)
      const dups = sorted.filter((o, i) => i > 0 && sorted[i - 1] === o)
      assert.fail(
        `partition ${p}: received ${offsets.length} records (offsets ${offsets[0]}..${offsets[offsets.length - 1]}, ` +
          `duplicates ${JSON.stringify(dups.slice(0, 10))}, in order: ${JSON.stringify(offsets) === JSON.stringify(sorted)}), want offsets ${want[0]}..${want[want.length - 1]} once each`
      )
    }
    for (const m of got[p] || []) seen.add(indexOf(m.value))
  }
  return seen
}

module.exports = {
  GROUP_OVERRIDES,
  MEMBER_DEFAULTS,
  unique,
  groupKafka,
  sleep,
  waitFor,
  withAdmin,
  createTopic,
  produce,
  endOffsets,
  committed,
  offsetsOnly,
  waitCommitted,
  sortedAssignment,
  Member,
  ChildMember,
  describeGroup,
  describedAssignments,
  ownershipProblem,
  waitStable,
  mergedReceived,
  assertExactlyOnce,
}
