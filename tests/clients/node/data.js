'use strict'
// The shared data set (same shape as the Python suite's helpers.py).

const assert = require('node:assert/strict')

const N_RECORDS = 10000
const N_KEYS = 100
const FILLER = 'the quick brown fox jumps over the lazy dog '.repeat(2)

function baseTimestamp() {
  return (Math.floor(Date.now() / 1000) - 3600) * 1000
}

function makeRecords(tag, n = N_RECORDS, baseTs = baseTimestamp()) {
  const recs = []
  for (let i = 0; i < n; i++) {
    const headers = { idx: String(i) }
    if (i % 2 === 0) headers.origin = `${tag}/even`
    recs.push({
      index: i,
      key: `key-${i % N_KEYS}`,
      value: `${tag}|value-${i}|${FILLER.slice(0, i % 64)}`,
      headers,
      timestamp: baseTs + i,
    })
  }
  return recs
}

const indexOf = value => Number(String(value).split('|')[1].slice('value-'.length))

// `got`: {partition: [kafkajs message, ...]} in fetch order. `acked`, if given:
// index -> [partition, offset]. Returns {partition: [[offset, timestamp], ...]}.
function checkConsumed(sent, got, nPartitions, acked = null) {
  const byIndex = new Map()
  let total = 0
  for (const [p, msgs] of Object.entries(got)) {
    const partition = Number(p)
    assert.ok(partition >= 0 && partition < nPartitions, `unexpected partition ${partition}`)
    msgs.forEach((m, pos) => {
      assert.equal(Number(m.offset), pos, `partition ${partition}: offset at position ${pos} is ${m.offset}`)
      const i = indexOf(m.value)
      assert.ok(!byIndex.has(i), `record ${i} consumed twice`)
      byIndex.set(i, { partition, m })
      total++
    })
  }
  assert.equal(total, sent.length, `consumed ${total} records, produced ${sent.length}`)

  for (const r of sent) {
    const g = byIndex.get(r.index)
    assert.ok(g, `record ${r.index} never consumed`)
    const where = `record ${r.index} (p${g.partition}@${g.m.offset})`
    assert.equal(String(g.m.key), r.key, `${where}: key`)
    assert.equal(String(g.m.value), r.value, `${where}: value`)
    const headers = Object.fromEntries(Object.entries(g.m.headers).map(([k, v]) => [k, String(v)]))
    assert.deepEqual(headers, r.headers, `${where}: headers`)
    assert.equal(g.m.timestamp, String(r.timestamp), `${where}: timestamp`)
    assert.equal(g.m.batchContext.timestampType, 0, `${where}: timestamp type is not CreateTime`)
    if (acked) assert.deepEqual([g.partition, Number(g.m.offset)], acked.get(r.index), `${where}: acked position`)
  }

  const keyPartition = new Map()
  const keyIndices = new Map()
  for (const [p, msgs] of Object.entries(got)) {
    for (const m of msgs) {
      const key = String(m.key)
      if (!keyPartition.has(key)) keyPartition.set(key, Number(p))
      assert.equal(keyPartition.get(key), Number(p), `key ${key} in two partitions`)
      if (!keyIndices.has(key)) keyIndices.set(key, [])
      keyIndices.get(key).push(indexOf(m.value))
    }
  }
  for (const [key, idx] of keyIndices) {
    assert.deepEqual(idx, [...idx].sort((a, b) => a - b), `key ${key}: per-key order broken`)
  }

  const entries = {}
  for (const [p, msgs] of Object.entries(got)) entries[p] = msgs.map(m => [Number(m.offset), Number(m.timestamp)])
  return entries
}

function timeQueries(baseTs, n = N_RECORDS) {
  return [
    baseTs - 60000,
    baseTs,
    baseTs + 1,
    baseTs + Math.floor(n / 3),
    baseTs + Math.floor(n / 2) + 7,
    baseTs + n - 2,
    baseTs + n - 1,
    baseTs + n + 60000,
  ]
}

// First offset whose timestamp >= ts, or null.
function expectedOffsetForTime(entries, ts) {
  for (const [offset, t] of entries) if (t >= ts) return offset
  return null
}

module.exports = { N_RECORDS, makeRecords, indexOf, checkConsumed, timeQueries, expectedOffsetForTime }
