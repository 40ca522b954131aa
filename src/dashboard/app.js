// Kurir's dashboard: sessions and their QR, the queue, the jobs, and any stream replayed on its machine's
// diagram. Plain browser JavaScript, no framework and no build step. Everything comes from the API with
// the signed-in user's token; the page follows the event log through the Server-Sent Events stream.

const $ = (selector) => document.querySelector(selector)

/** An element with text content only: nothing from the server is ever parsed as HTML. */
const el = (tag, attrs = {}, ...children) => {
  const node = document.createElement(tag)
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue
    if (name === 'class') node.className = value
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value)
    else node.setAttribute(name, value === true ? '' : String(value))
  }
  for (const child of children) {
    if (child === null || child === undefined) continue
    node.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
  return node
}

const timeOf = (iso) => (iso ? new Date(iso).toLocaleTimeString() : '')
const percent = (rate) => (rate === null || rate === undefined ? '–' : `${(rate * 100).toFixed(1)}%`)

// ---------------------------------------------------------------------------------------------------
// Signing in: the token pair lives in this tab only (sessionStorage). A 401 refreshes it once.

const TOKENS_KEY = 'kurir.tokens'
let tokens = JSON.parse(sessionStorage.getItem(TOKENS_KEY) ?? 'null')
let refreshing = null

const saveTokens = (pair) => {
  tokens = pair
  if (pair) sessionStorage.setItem(TOKENS_KEY, JSON.stringify(pair))
  else sessionStorage.removeItem(TOKENS_KEY)
}

class ApiError extends Error {
  constructor(status, body) {
    super(body?.error?.message ?? `HTTP ${status}`)
    this.status = status
    this.code = body?.error?.code
  }
}

const refreshTokens = () => {
  refreshing ??= (async () => {
    try {
      const res = await fetch('/api/auth/refresh', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ refreshToken: tokens?.refreshToken }),
      })
      if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null))
      const pair = await res.json()
      saveTokens({ ...tokens, token: pair.token, refreshToken: pair.refreshToken })
    } finally {
      refreshing = null
    }
  })()
  return refreshing
}

/** A call to the API as the signed-in user; on an expired token, refreshes once and tries again. */
const api = async (path, { method = 'GET', body, raw = false } = {}) => {
  for (let attempt = 0; ; attempt++) {
    if (!tokens) throw new ApiError(401, null)
    const res = await fetch(path, {
      method,
      headers: {
        Authorization: `Bearer ${tokens.token}`,
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    })
    if (res.status === 401 && attempt === 0 && tokens?.refreshToken) {
      try {
        await refreshTokens()
        continue
      } catch {
        signedOut()
        throw new ApiError(401, null)
      }
    }
    if (!res.ok) throw new ApiError(res.status, await res.json().catch(() => null))
    return raw ? res.text() : res.json()
  }
}

// ---------------------------------------------------------------------------------------------------
// What the page shows.

const view = {
  sessions: [],
  /** The session whose queue and jobs are shown. */
  sessionId: 'default',
  status: '',
  jobs: [],
  nextCursor: null,
  /** The stream open in the detail panel, its trace and the replay position. */
  detail: null,
}

const sessionBase = (id) => `/api/sessions/${encodeURIComponent(id)}`

// Sessions, each with its state and, while it waits for a scan, its QR.
const qrImages = new Map()

const loadQr = async (id) => {
  try {
    const { dataUrl } = await api(`${sessionBase(id)}/qr`)
    qrImages.set(id, dataUrl)
  } catch (err) {
    if (err.status === 409 || err.status === 404) qrImages.delete(id)
    else throw err
  }
}

const loadSessions = async () => {
  const { sessions } = await api('/api/sessions')
  view.sessions = sessions
  await Promise.all(
    sessions.map((s) => (s.qrWaiting ? loadQr(s.id) : Promise.resolve(qrImages.delete(s.id)))),
  )
  renderSessions()
  renderSessionFilter()
}

const renderSessions = () => {
  const box = $('#sessions')
  box.replaceChildren(
    ...view.sessions.map((s) => {
      const qr = qrImages.get(s.id)
      return el(
        'article',
        { class: `session state-${s.state}`, 'data-session': s.id },
        el(
          'header',
          {},
          el('strong', {}, s.id),
          el('span', { class: `badge state-${s.state}`, 'data-role': 'state' }, s.state),
        ),
        el(
          'p',
          { class: 'muted' },
          s.phoneNumber ? `linked to +${s.phoneNumber} · ` : '',
          s.since ? `since ${timeOf(s.since)}` : '',
          s.restartAttempts > 0 ? ` · ${s.restartAttempts} failed starts` : '',
        ),
        s.lastError ? el('p', { class: 'error' }, `${s.lastError.code}: ${s.lastError.message}`) : null,
        qr
          ? el(
              'figure',
              { class: 'qr' },
              el('img', { src: qr, alt: `QR code to link session ${s.id}`, width: 220, height: 220 }),
              el('figcaption', {}, 'Scan with WhatsApp → Linked devices'),
            )
          : null,
        el(
          'p',
          { class: 'actions' },
          el(
            'button',
            { type: 'button', class: 'link', onclick: () => openDetail(`session-${s.id}`, s.id) },
            'machine',
          ),
          el(
            'button',
            {
              type: 'button',
              class: 'link',
              onclick: () => selectSession(s.id),
              'aria-pressed': s.id === view.sessionId ? 'true' : 'false',
            },
            'queue',
          ),
        ),
      )
    }),
  )
}

const renderSessionFilter = () => {
  const select = $('#filter-session')
  const ids = view.sessions.map((s) => s.id)
  if (!ids.includes(view.sessionId) && ids.length > 0) view.sessionId = ids[0]
  select.replaceChildren(...ids.map((id) => el('option', { value: id, selected: id === view.sessionId }, id)))
}

const selectSession = (id) => {
  view.sessionId = id
  renderSessionFilter()
  renderSessions()
  void refreshQueue()
}

// The queue's numbers for the chosen session.
const STAT_NAMES = ['waiting', 'active', 'delayed', 'completed', 'failed', 'cancelled']

const loadStats = async () => {
  const stats = await api(`${sessionBase(view.sessionId)}/queue/stats`)
  const status = await api(`${sessionBase(view.sessionId)}/status`)
  $('#queue-session').textContent = `· ${view.sessionId}${status.queue.paused ? ' · paused' : ''}`
  $('#queue-stats').replaceChildren(
    ...STAT_NAMES.flatMap((name) => [
      el('dt', {}, name),
      el('dd', { 'data-count': name }, stats.counts[name]),
    ]),
    el('dt', {}, 'success rate'),
    el('dd', { 'data-stat': 'success-rate' }, percent(stats.successRate)),
    el('dt', {}, 'sent / minute'),
    el('dd', { 'data-stat': 'sent-last-minute' }, stats.sentLastMinute),
  )
}

// The jobs, newest first, filtered by status.
const jobsQuery = (cursor) => {
  const q = new URLSearchParams({ limit: '50' })
  if (view.status) q.set('status', view.status)
  if (cursor) q.set('cursor', cursor)
  return `${sessionBase(view.sessionId)}/jobs?${q}`
}

const loadJobs = async () => {
  const page = await api(jobsQuery(null))
  view.jobs = page.jobs
  view.nextCursor = page.nextCursor
  renderJobs()
}

const loadMoreJobs = async () => {
  if (!view.nextCursor) return
  const page = await api(jobsQuery(view.nextCursor))
  view.jobs = [...view.jobs, ...page.jobs]
  view.nextCursor = page.nextCursor
  renderJobs()
}

const renderJobs = () => {
  $('#jobs').replaceChildren(
    ...view.jobs.map((job) =>
      el(
        'tr',
        {
          'data-job': job.id,
          class: view.detail?.streamId === `job-${job.id}` ? 'selected' : '',
          tabindex: 0,
          onclick: () => openDetail(`job-${job.id}`, `job ${job.id}`),
          onkeydown: (e) => {
            if (e.key === 'Enter') openDetail(`job-${job.id}`, `job ${job.id}`)
          },
        },
        el('td', { class: 'mono' }, job.id),
        el('td', {}, el('span', { class: `badge status-${job.status}`, 'data-role': 'status' }, job.status)),
        el('td', {}, job.priority),
        el('td', { class: 'mono' }, job.chatId),
        el('td', {}, `${job.attempts}/${job.maxAttempts}`),
        el('td', { class: 'error' }, job.lastError ? job.lastError.code : ''),
        el('td', {}, timeOf(job.updatedAt)),
      ),
    ),
  )
  $('#jobs-more').hidden = !view.nextCursor
}

const refreshQueue = () => Promise.all([loadStats(), loadJobs()]).catch(showError)

// ---------------------------------------------------------------------------------------------------
// One stream on its machine: the diagram drawn from the machine's definition, the events from the log,
// and a slider that replays them.

const diagrams = new Map()

const diagramOf = async (machine) => {
  let svg = diagrams.get(machine)
  if (svg === undefined) {
    svg = await api(`/api/machines/${machine}/diagram.svg`, { raw: true })
    diagrams.set(machine, svg)
  }
  return svg
}

const openDetail = async (streamId, title) => {
  view.detail = { streamId, title, trace: null, step: 0, follow: true }
  $('#detail').hidden = false
  $('#detail-title').textContent = title
  renderJobs()
  await loadDetail()
  $('#detail').scrollIntoView({ block: 'nearest' })
}

const closeDetail = () => {
  view.detail = null
  $('#detail').hidden = true
  renderJobs()
}

const loadDetail = async () => {
  const detail = view.detail
  if (!detail) return
  const trace = await api(`/api/streams/${encodeURIComponent(detail.streamId)}/trace`)
  if (view.detail !== detail) return
  const svg = await diagramOf(trace.machine)
  if (view.detail !== detail) return
  if (detail.trace === null || detail.machine !== trace.machine) {
    // The server draws the diagram from the machine definition; it is trusted markup.
    $('#diagram').innerHTML = svg
    detail.machine = trace.machine
  }
  const atEnd = detail.trace === null || detail.step === detail.trace.steps.length - 1
  detail.trace = trace
  if (atEnd || detail.follow) detail.step = trace.steps.length - 1
  const slider = $('#replay')
  slider.max = String(trace.steps.length)
  renderTimeline()
  showStep(detail.step)
}

const renderTimeline = () => {
  const { trace } = view.detail
  $('#timeline').replaceChildren(
    ...trace.steps.map((step, i) =>
      el(
        'li',
        {
          'data-step': i + 1,
          'data-type': step.type,
          class: step.accepted ? '' : 'refused',
          onclick: () => {
            view.detail.follow = i === trace.steps.length - 1
            showStep(i)
          },
        },
        el('time', { datetime: step.createdAt }, timeOf(step.createdAt)),
        el('strong', {}, step.type),
        el('span', { class: 'transition' }, `${step.before} → ${step.after}`),
        step.effects.length > 0 ? el('span', { class: 'muted' }, ` · ${step.effects.join(', ')}`) : null,
        step.data.error?.code ? el('span', { class: 'error' }, ` · ${step.data.error.code}`) : null,
      ),
    ),
  )
}

/** Shows the state after step `index` (0-based): highlighted in the diagram and in the timeline. */
const showStep = (index) => {
  const detail = view.detail
  const steps = detail.trace.steps
  const step = steps[index]
  if (!step) return
  detail.step = index
  $('#replay').value = String(index + 1)
  $('#replay-label').textContent =
    `event ${index + 1} of ${steps.length}${detail.trace.total > steps.length ? ` (last ${steps.length} of ${detail.trace.total})` : ''}: ${step.type} → ${step.after}`
  $('#detail-state').textContent = step.after
  const active = new Set(step.activeStates)
  for (const node of document.querySelectorAll('#diagram g.state')) {
    node.classList.toggle('active', active.has(node.getAttribute('data-state')))
  }
  // The transition that led here: the machine's event, from a state that was active before it.
  const before = new Set(steps[index - 1]?.activeStates ?? [])
  for (const node of document.querySelectorAll('#diagram g.transition')) {
    node.classList.toggle(
      'taken',
      step.accepted &&
        step.before !== step.after &&
        node.getAttribute('data-event') === step.machineEvent &&
        (index === 0 || before.has(node.getAttribute('data-source'))),
    )
  }
  revealActive()
  for (const item of document.querySelectorAll('#timeline li')) {
    item.classList.toggle('current', item.getAttribute('data-step') === String(index + 1))
  }
}

/** Scrolls the diagram (drawn at its own size) so that the highlighted state is in sight. */
const revealActive = () => {
  const box = $('#diagram')
  const active = [...box.querySelectorAll('g.state.active')].at(-1)
  if (!active) return
  const from = box.getBoundingClientRect()
  const at = active.getBoundingClientRect()
  box.scrollLeft += at.left + at.width / 2 - (from.left + from.width / 2)
  box.scrollTop += at.top + at.height / 2 - (from.top + from.height / 2)
}

// ---------------------------------------------------------------------------------------------------
// Live: the event stream, read with fetch so the token goes in a header (never in a URL).

let stream = null
let lastPosition = null
const dirty = new Set()
let flushTimer = null

const setLive = (on) => {
  const badge = $('#live')
  badge.dataset.live = on ? 'on' : 'off'
  badge.textContent = on ? 'live' : 'reconnecting…'
}

/** Many events arrive together; the views they touch are read again once per short pause. */
const touched = (event) => {
  const [kind, ...rest] = event.streamId.split('-')
  const id = rest.join('-')
  if (kind === 'session') dirty.add('sessions')
  if (kind === 'job' || (kind === 'queue' && id === view.sessionId)) dirty.add('queue')
  if (view.detail?.streamId === event.streamId) dirty.add('detail')
  if (flushTimer === null) flushTimer = setTimeout(flush, 150)
}

const flush = () => {
  flushTimer = null
  const work = [...dirty]
  dirty.clear()
  for (const what of work) {
    if (what === 'sessions') loadSessions().catch(showError)
    if (what === 'queue') void refreshQueue()
    if (what === 'detail') loadDetail().catch(showError)
  }
}

const follow = async () => {
  const controller = new AbortController()
  stream = controller
  let delay = 500
  while (stream === controller) {
    try {
      if (!tokens) return
      const headers = { Authorization: `Bearer ${tokens.token}`, Accept: 'text/event-stream' }
      if (lastPosition !== null) headers['Last-Event-ID'] = String(lastPosition)
      const res = await fetch('/api/events/stream', { headers, signal: controller.signal })
      if (res.status === 401) {
        await refreshTokens()
        continue
      }
      if (!res.ok || !res.body) throw new Error(`event stream: HTTP ${res.status}`)
      setLive(true)
      delay = 500
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      let buffer = ''
      let refused = false
      while (!refused) {
        const { value, done } = await reader.read()
        if (done) break
        buffer += value
        let end = buffer.indexOf('\n\n')
        while (end >= 0) {
          const message = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          end = buffer.indexOf('\n\n')
          const lines = message.split('\n')
          // The token ran out (or its user is gone): the stream ends; a fresh token picks it up again.
          if (lines.includes('event: unauthorized')) {
            refused = true
            break
          }
          const data = lines
            .filter((line) => line.startsWith('data:'))
            .map((line) => line.slice(5).trimStart())
            .join('\n')
          if (!data) continue
          const event = JSON.parse(data)
          lastPosition = event.position
          touched(event)
        }
      }
      if (refused) {
        await refreshTokens()
        continue
      }
    } catch (err) {
      if (stream !== controller) return
      if (err?.status === 401) return signedOut()
    }
    setLive(false)
    await new Promise((r) => setTimeout(r, delay))
    delay = Math.min(delay * 2, 10_000)
  }
}

// While a session waits for a scan its QR changes every few seconds; the image follows it.
const QR_REFRESH_MS = 5000
let qrTimer = null
const refreshQrs = () => {
  qrTimer = setTimeout(async () => {
    const waiting = view.sessions.filter((s) => s.qrWaiting)
    if (waiting.length > 0) {
      await Promise.all(waiting.map((s) => loadQr(s.id))).catch(() => {})
      renderSessions()
    }
    if (tokens) refreshQrs()
  }, QR_REFRESH_MS)
}

// ---------------------------------------------------------------------------------------------------

const showError = (err) => {
  if (err?.status === 401) return signedOut()
  console.error(err)
}

const signedIn = async () => {
  $('#login-view').hidden = true
  $('#app-view').hidden = false
  $('#logout').hidden = false
  $('#who').textContent = tokens.email ?? ''
  await loadSessions()
  await refreshQueue()
  void follow()
  refreshQrs()
}

const signedOut = () => {
  saveTokens(null)
  stream?.abort()
  stream = null
  clearTimeout(qrTimer)
  $('#app-view').hidden = true
  $('#logout').hidden = true
  $('#who').textContent = ''
  $('#login-view').hidden = false
  setLive(false)
  $('#live').textContent = 'offline'
}

$('#login-form').addEventListener('submit', async (e) => {
  e.preventDefault()
  const email = $('#email').value
  const password = $('#password').value
  $('#login-error').textContent = ''
  const res = await fetch('/api/auth/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  })
  const body = await res.json().catch(() => null)
  if (!res.ok) {
    $('#login-error').textContent = body?.error?.message ?? `sign-in failed (HTTP ${res.status})`
    return
  }
  $('#password').value = ''
  saveTokens({ token: body.token, refreshToken: body.refreshToken, email: body.user.email })
  await signedIn().catch(showError)
})

$('#logout').addEventListener('click', async () => {
  const refreshToken = tokens?.refreshToken
  if (refreshToken) await api('/api/auth/logout', { method: 'POST', body: { refreshToken } }).catch(() => {})
  signedOut()
})

$('#filter-session').addEventListener('change', (e) => selectSession(e.target.value))
$('#filter-status').addEventListener('change', (e) => {
  view.status = e.target.value
  loadJobs().catch(showError)
})
$('#jobs-more').addEventListener('click', () => loadMoreJobs().catch(showError))
$('#detail-close').addEventListener('click', closeDetail)
$('#replay').addEventListener('input', (e) => {
  const index = Number(e.target.value) - 1
  view.detail.follow = index === view.detail.trace.steps.length - 1
  showStep(index)
})

if (tokens) signedIn().catch(showError)
else signedOut()
