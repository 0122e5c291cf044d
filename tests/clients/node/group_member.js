'use strict'
// A kafkajs group consumer in its own process, for tests that SIGKILL a
// member (no LeaveGroup). Argument: JSON {bootstrap, groupId, topic,
// sessionTimeout, rebalanceTimeout, heartbeatInterval, maxWaitTimeInMs}.
// Prints one JSON line per event on stdout: {"event":"join",memberId,assignment},
// {"event":"crash",error}, {"event":"running"}.

const { kafka } = require('./kjs')

const cfg = JSON.parse(process.argv[2])
const say = obj => process.stdout.write(`${JSON.stringify(obj)}\n`)

async function main() {
  const k = kafka(cfg.bootstrap, { retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 2000 } })
  const consumer = k.consumer({
    groupId: cfg.groupId,
    sessionTimeout: cfg.sessionTimeout,
    rebalanceTimeout: cfg.rebalanceTimeout,
    heartbeatInterval: cfg.heartbeatInterval,
    maxWaitTimeInMs: cfg.maxWaitTimeInMs,
  })
  consumer.on(consumer.events.GROUP_JOIN, e =>
    say({ event: 'join', memberId: e.payload.memberId, assignment: e.payload.memberAssignment })
  )
  consumer.on(consumer.events.CRASH, e => say({ event: 'crash', error: String(e.payload.error) }))
  let count = 0
  await consumer.connect()
  await consumer.subscribe({ topic: cfg.topic, fromBeginning: true })
  await consumer.run({
    eachMessage: async () => {
      count += 1
    },
  })
  say({ event: 'running' })
  const shutdown = async () => {
    await consumer.disconnect().catch(() => {})
    say({ event: 'stopped', count })
    process.exit(0)
  }
  process.on('SIGTERM', shutdown)
  process.on('SIGINT', shutdown)
}

main().catch(e => {
  say({ event: 'fatal', error: String(e && e.stack) })
  process.exit(1)
})
