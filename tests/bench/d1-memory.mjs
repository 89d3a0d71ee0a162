/**
 * A D1 stand-in in memory for the CPU estimate of tests/bench/load.mjs, where the built
 * worker runs in Node without workerd. Node 20 has no SQLite of its own (`node:sqlite`
 * came with Node 22), so this is not a database: it knows the statements of the
 * registration's batch (worker/store/lead-store.ts, registerLead; the challenge spend of
 * worker/abuse/challenge.ts; the webhook event of worker/webhooks/outbox.ts) and of the
 * challenge route's attack-mode read word for word, and does what SQLite would do with
 * them on a few Maps. Any other statement, or a changed
 * one, throws, so the bench answers 503 and refuses the figure instead of timing the wrong
 * path.
 *
 * It does the JavaScript work the real binding does in the worker's isolate: the batch is
 * serialised to the JSON body D1 receives, and the answer parsed from JSON and turned from
 * columns and rows into objects. The SQL itself runs on D1's side on Cloudflare (no CPU of
 * the worker); here it costs a few Map operations.
 */

const squash = (sql) => sql.replace(/\s+/g, ' ').trim();

/** registerLead's statements as it sends them, whitespace squashed; each with its effect. */
const STATEMENTS = new Map(
  [
    [
      'INSERT INTO challenge_spent (signature, expires_at) VALUES (?1, ?2)',
      (db, p) => {
        // The primary key: a second use fails the whole batch, as in D1.
        if (db.spent.has(p[0]))
          throw new Error('D1_ERROR: UNIQUE constraint failed: challenge_spent.signature');
        db.spent.set(p[0], p[1]);
        return [];
      },
    ],
    [
      `INSERT INTO abuse_counts (minute, reason, n) VALUES (?1, 'accepted', 1)
       ON CONFLICT (minute, reason) DO UPDATE SET n = n + 1`,
      (db, p) => {
        const key = `${p[0]}|accepted`;
        db.counts.set(key, (db.counts.get(key) ?? 0) + 1);
        return [];
      },
    ],
    [
      'SELECT value FROM settings WHERE key = ?1',
      (db, p) => (db.settings.has(p[0]) ? [{ value: db.settings.get(p[0]) }] : []),
    ],
    [
      `INSERT INTO leads (id, mailbox, email, first_name, status, phase, created_at, updated_at,
         config_version, utm_source, utm_medium, utm_campaign, utm_term, utm_content, referrer, landing_path)
       SELECT ?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14
       WHERE NOT EXISTS (SELECT 1 FROM suppression WHERE mailbox IN (?2, ?15))
       ON CONFLICT (id) DO NOTHING
       RETURNING id`,
      (db, p) => {
        if (db.suppression.has(p[1]) || db.suppression.has(p[14]) || db.leads.has(p[0])) return [];
        db.leads.set(p[0], { id: p[0], mailbox: p[1], email: p[2], first_name: p[3], status: 'pending' });
        return [{ id: p[0] }];
      },
    ],
    [
      `INSERT INTO lead_events (lead_id, type, at)
       SELECT ?1, 'registered', ?2 WHERE EXISTS (SELECT 1 FROM leads WHERE id = ?1)
         AND NOT EXISTS (SELECT 1 FROM lead_events WHERE lead_id = ?1 AND type = 'registered')`,
      (db, p) => {
        const key = `${p[0]}:registered`;
        if (db.leads.has(p[0]) && !db.events.has(key)) db.events.set(key, p[1]);
        return [];
      },
    ],
    [
      `UPDATE consents SET status = 'withdrawn', withdrawn_at = ?2, note = 'expired_unconfirmed'
       WHERE lead_id = ?1 AND status = 'pending' AND given_at < ?2 - ?3`,
      (db, p) => {
        // Closed consents leave the partial unique index, so a new one of the kind may follow.
        for (const kind of ['privacy', 'giveaway', 'newsletter']) {
          const c = db.consents.get(`${p[0]}:${kind}`);
          if (c?.status === 'pending' && c.given_at < p[1] - p[2]) db.consents.delete(`${p[0]}:${kind}`);
        }
        return [];
      },
    ],
    [
      `INSERT OR IGNORE INTO consents (lead_id, kind, status, text_version, text, config_version, note,
         given_at, given_ip, given_ua)
       SELECT ?1, ?2, 'pending', ?3, ?4, ?5, ?6, ?7, ?8, ?9
       WHERE EXISTS (SELECT 1 FROM leads WHERE id = ?1)
         AND NOT EXISTS (SELECT 1 FROM suppression WHERE mailbox IN (?10, ?11))
       RETURNING kind`,
      (db, p) => {
        const key = `${p[0]}:${p[1]}`; // the partial unique index: one active consent per kind
        if (
          !db.leads.has(p[0]) ||
          db.suppression.has(p[9]) ||
          db.suppression.has(p[10]) ||
          db.consents.has(key)
        )
          return [];
        db.consents.set(key, { status: 'pending', given_at: p[6] });
        return [{ kind: p[1] }];
      },
    ],
    [
      `SELECT l.status AS status,
         (SELECT COUNT(*) FROM consents WHERE lead_id = l.id AND status = 'pending') AS pending,
         (SELECT MAX(given_at) FROM consents WHERE lead_id = l.id AND status = 'pending') AS last_asked,
         (SELECT MAX(claimed_at) FROM mail_sends WHERE lead_id = l.id AND kind = 'confirm') AS last_confirm,
         (SELECT MAX(claimed_at) FROM mail_sends WHERE lead_id = l.id AND kind = 'welcome') AS last_welcome
       FROM leads l WHERE l.id = ?1`,
      (db, p) => {
        const lead = db.leads.get(p[0]);
        if (!lead) return [];
        let pending = 0;
        let lastAsked = null;
        for (const kind of ['privacy', 'giveaway', 'newsletter']) {
          const c = db.consents.get(`${p[0]}:${kind}`);
          if (c?.status !== 'pending') continue;
          pending += 1;
          lastAsked = Math.max(lastAsked ?? 0, c.given_at);
        }
        const last = (kind) => db.sends.get(`${p[0]}:${kind}`) ?? null;
        return [
          {
            status: lead.status,
            pending,
            last_asked: lastAsked,
            last_confirm: last('confirm'),
            last_welcome: last('welcome'),
          },
        ];
      },
    ],
  ].map(([sql, run]) => [squash(sql), run]),
);

/**
 * Statements whose text is generated (worker/webhooks/outbox.ts builds the event insert
 * from the event's payload), known by how they start. The bench has no webhook endpoints
 * and no connector, so a registration's `lead.registered` event inserts nothing.
 */
const GENERATED = [
  [
    'INSERT INTO webhook_events (id, type, lead_id, at, payload) SELECT ',
    (db) => {
      if (db.webhookEndpoints.size) throw new Error('d1-memory: webhook endpoints are not simulated');
      return [];
    },
  ],
];

/** The effect of a statement, or undefined when it is not one of the above. */
function effectOf(sql) {
  const squashed = squash(sql);
  return STATEMENTS.get(squashed) ?? GENERATED.find(([start]) => squashed.startsWith(start))?.[1];
}

/** Rows → D1's wire form (columns and rows), as the D1 service answers. */
function wire(rows) {
  const columns = rows.length ? Object.keys(rows[0]) : [];
  return { columns, rows: rows.map((r) => columns.map((c) => r[c])) };
}

/** D1's wire form → row objects, as the binding hands them to the worker. */
function objects({ columns, rows }) {
  return rows.map((row) => Object.fromEntries(columns.map((c, i) => [c, row[i]])));
}

/**
 * A D1Database (`prepare(...).bind(...)`, `batch`, `first/all/run/raw`) for the statements
 * above. `data` is the state (leads, consents, events, suppression, sends, spent challenge
 * solutions, counts, settings) for the bench's checks.
 */
export function memoryD1() {
  const known = new Map();
  const data = {
    leads: new Map(),
    consents: new Map(),
    events: new Map(),
    suppression: new Map(),
    sends: new Map(),
    spent: new Map(),
    counts: new Map(),
    settings: new Map(),
    webhookEndpoints: new Map(),
  };
  /** What the service answers for a list of statements (see the header). */
  const execute = (statements) => {
    const body = JSON.parse(JSON.stringify(statements.map((s) => ({ sql: s.sql, params: s.params }))));
    const answer = JSON.stringify(
      body.map(({ sql, params }) => {
        const run = known.get(sql) ?? effectOf(sql);
        if (!run)
          throw new Error(`d1-memory: unknown statement (update tests/bench/d1-memory.mjs): ${squash(sql)}`);
        known.set(sql, run); // the bench's own lookup, kept out of the figure after the first call
        return { results: wire(run(data, params)), success: true, meta: { changes: 0, duration: 0 } };
      }),
    );
    return JSON.parse(answer).map((r) => ({ ...r, results: objects(r.results) }));
  };
  const statement = (sql, params = []) => {
    const self = {
      sql,
      params,
      bind: (...values) => statement(sql, values),
      first: async (column) => {
        const row = execute([self])[0].results[0] ?? null;
        return column && row ? row[column] : row;
      },
      all: async () => execute([self])[0],
      run: async () => execute([self])[0],
      raw: async () => execute([self])[0].results.map((r) => Object.values(r)),
    };
    return self;
  };
  return {
    data,
    prepare: (sql) => statement(sql),
    async batch(statements) {
      return execute(statements);
    },
  };
}
