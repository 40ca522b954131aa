// A machine with every shape a diagram must draw: nested compound states inside a parallel state, a
// history state, a state nothing reaches, numbered and named delays, higher-order and inline guards, loops,
// transitions into deep states, out of them, and on the machine itself.
import { and, assign, not, setup } from 'xstate'

export const sampleMachine = setup({
  guards: { ok: () => true, ready: () => true },
  actions: { log: () => {} },
  delays: { soon: 100 },
}).createMachine({
  id: 'sample',
  initial: 'idle',
  on: {
    RESET: { target: '.idle' },
    PING: { actions: 'log' },
    REENTER: { target: '#sample', reenter: true },
  },
  states: {
    idle: { on: { GO: 'work', JUMP: 'work.edit.text.bold', NOOP: { target: 'idle', reenter: true } } },
    orphan: { on: { BACK: 'idle' } },
    work: {
      type: 'parallel',
      on: { DONE: 'done', UP: { target: 'work', reenter: true } },
      states: {
        edit: {
          initial: 'text',
          states: {
            text: {
              initial: 'plain',
              on: { PIC: 'image' },
              states: {
                plain: { on: { B: 'bold' } },
                bold: { on: { P: 'plain', OUT: '#sample.done' }, after: { 1000: 'plain' } },
                hist: { type: 'history' },
              },
            },
            image: {
              on: {
                TXT: 'text.hist',
                SAVE: { guard: and(['ok', not('ready')]), target: '#sample.work.net.offline' },
              },
              always: { guard: ({ context }) => context !== undefined, target: 'text' },
            },
          },
        },
        net: {
          initial: 'online',
          states: {
            online: { after: { soon: 'offline' }, on: { TICK: { actions: assign({}) }, SELF: 'online' } },
            offline: { on: { BACK: { target: 'online', guard: 'ok' } } },
          },
        },
      },
    },
    done: { type: 'final' },
  },
})
