// The workstation's terminal on a page: xterm.js (window.Terminal, served as /xterm.js) wired
// to the session's shell over a WebSocket. On the candidate's page it types and follows the
// window's size; on an interviewer's page it mirrors read-only at the shell's size, until the
// interviewer takes the keyboard. A lost connection is retried; the shell stays the same.
(() => {
  const el = document.getElementById('terminal');
  if (!el) return;
  const state = document.getElementById('terminal-state');
  const say = text => { if (state) state.textContent = text; };
  if (!window.Terminal) {
    say('The terminal could not load: ' + (window.breakfixXtermMissing || 'xterm.js is missing') + '.');
    return;
  }
  const seat = el.dataset.seat;
  const term = new Terminal({ cursorBlink: seat === 'candidate', fontSize: 14, scrollback: 5000, rendererType: 'dom' });
  term.open(el);
  const fit = () => { if (seat === 'candidate' && term.fit) term.fit(); };
  fit();
  let ws = null, retry = 500, typing = seat === 'candidate', ended = false;
  const enc = new TextEncoder();
  let dec = new TextDecoder();
  const send = value => { if (ws && ws.readyState === 1) ws.send(value); };
  const control = obj => send(JSON.stringify(obj));
  const take = document.getElementById('take-keyboard');
  function keyboard(who) {
    el.dataset.keyboard = who;
    if (seat === 'interviewer') {
      typing = who === 'interviewer';
      if (take) take.textContent = typing ? 'Give the keyboard back' : 'Take the keyboard';
    }
    say((ended ? 'ended · ' : 'connected · ') + 'keyboard: ' + who);
  }
  function connect() {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    ws = new WebSocket(proto + '//' + location.host + el.dataset.socket);
    ws.binaryType = 'arraybuffer';
    ws.onopen = () => {
      retry = 500;
      // A page that reconnects is given the recent output again: start from a clean screen.
      term.reset();
      dec = new TextDecoder();
      if (seat === 'candidate') control({ resize: [term.cols, term.rows] });
      if (seat === 'candidate') term.focus();
    };
    ws.onmessage = ev => {
      if (typeof ev.data === 'string') {
        const m = JSON.parse(ev.data);
        if (m.size && seat !== 'candidate') term.resize(m.size[0], m.size[1]);
        if (m.keyboard) keyboard(m.keyboard);
        if (m.ended) {
          ended = true;
          say('The shell ended (' + m.ended + '). Reload the page for a new one.');
        }
        return;
      }
      term.write(dec.decode(new Uint8Array(ev.data), { stream: true }));
    };
    ws.onclose = () => {
      if (ended) return;
      say(seat === 'interviewer' ? 'Waiting for the candidate\'s terminal…' : 'Connection lost; reconnecting…');
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 8000);
    };
  }
  term.on('data', data => { if (typing) send(enc.encode(data)); });
  term.on('resize', s => { if (typing && seat === 'candidate') control({ resize: [s.cols, s.rows] }); });
  window.addEventListener('resize', fit);
  if (seat === 'candidate') {
    window.addEventListener('blur', () => control({ focus: false }));
    window.addEventListener('focus', () => control({ focus: true }));
  }
  if (take) take.addEventListener('click', () => {
    control({ take: !typing });
    if (!typing) term.focus();
  });
  connect();
})();
