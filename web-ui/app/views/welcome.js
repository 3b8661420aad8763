// The welcome screen: sign up and log in (tabs), "remember me", and error messages that say what to do.

import { h, replaceChildren, uid } from '../dom.js';
import * as api from '../api.js';

const USERNAME_RE = /^[a-z0-9_.-]{3,32}$/;

/** Maps an API error to a sentence a person can act on. */
export function loginErrorText(err, mode) {
  if (!(err instanceof api.ApiError)) return 'Something went wrong. Please try again.';
  if (err.status === 429) {
    const s = err.retryAfter ?? 60;
    return `Too many attempts; try again in ${s} s`;
  }
  if (err.code === 'username_taken' || (mode === 'signup' && err.status === 409)) return 'That username is taken';
  if (err.code === 'bad_credentials' || (mode === 'login' && err.status === 401)) return 'Wrong username or password';
  if (err.status === 422 || err.status === 400) {
    const code = err.code || '';
    if (/password/.test(code)) return 'Use at least 8 characters for the password';
    if (/username/.test(code)) return 'Usernames are 3–32 characters: a–z, 0–9, dot, dash or underscore';
    if (/display/.test(code)) return 'That display name can’t be used';
    return err.message || 'Please check the fields and try again';
  }
  if (err.status === 0) return err.message;
  return err.message || `Something went wrong (${err.status})`;
}

function field(label, input, hint) {
  const hintEl = hint ? h('span', { class: 'hint', id: uid('hint') }, hint) : null;
  const errEl = h('span', { class: 'error', id: uid('err'), 'aria-live': 'polite' });
  input.id = input.id || uid('f');
  const describedBy = [hintEl?.id, errEl.id].filter(Boolean).join(' ');
  input.setAttribute('aria-describedby', describedBy);
  const wrap = h('div', { class: 'field' }, h('label', { for: input.id }, label), input, hintEl, errEl);
  return { wrap, input, setError(msg) {
    errEl.textContent = msg || '';
    if (msg) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
  } };
}

/** Renders the welcome screen into `root`; calls onLoggedIn(user) after a successful login. */
export function renderWelcome(root, { onLoggedIn, notice }) {
  let mode = 'login';
  let lockedUntil = 0;
  let lockTimer = null;

  const tabLogin = h('button', { class: 'tab', role: 'tab', type: 'button', id: 'tab-login' }, 'Log in');
  const tabSignup = h('button', { class: 'tab', role: 'tab', type: 'button', id: 'tab-signup' }, 'Sign up');
  const username = field('Username', h('input', { type: 'text', name: 'username', autocomplete: 'username',
    autocapitalize: 'none', spellcheck: 'false', required: true, maxlength: '32' }),
  null);
  const displayName = field('Display name', h('input', { type: 'text', name: 'display_name', autocomplete: 'name',
    maxlength: '64' }), 'How others see you. You can change it later.');
  const password = field('Password', h('input', { type: 'password', name: 'password', required: true,
    autocomplete: 'current-password' }), null);
  const remember = h('input', { type: 'checkbox', name: 'remember_me', id: 'remember-me' });
  const formError = h('div', { class: 'form-error', role: 'alert', id: 'form-error' });
  const submit = h('button', { class: 'btn primary block', type: 'submit' }, 'Log in');
  const usernameHint = h('span', { class: 'hint' }, '3–32 characters: a–z, 0–9, dot, dash, underscore');

  const form = h('form', { class: 'welcome-form', novalidate: true, 'aria-labelledby': 'tab-login', role: 'tabpanel' },
    formError, username.wrap, displayName.wrap, password.wrap,
    h('div', { class: 'field' }, h('label', { class: 'check' }, remember, 'Remember me on this browser')),
    submit);

  function setMode(m) {
    mode = m;
    tabLogin.setAttribute('aria-selected', String(m === 'login'));
    tabSignup.setAttribute('aria-selected', String(m === 'signup'));
    tabLogin.tabIndex = m === 'login' ? 0 : -1;
    tabSignup.tabIndex = m === 'signup' ? 0 : -1;
    form.setAttribute('aria-labelledby', m === 'login' ? 'tab-login' : 'tab-signup');
    displayName.wrap.hidden = m !== 'signup';
    submit.textContent = m === 'login' ? 'Log in' : 'Create account';
    password.input.autocomplete = m === 'login' ? 'current-password' : 'new-password';
    if (m === 'signup') username.wrap.insertBefore(usernameHint, username.input.nextSibling);
    else usernameHint.remove();
    formError.textContent = '';
    username.setError('');
    password.setError('');
  }

  tabLogin.addEventListener('click', () => setMode('login'));
  tabSignup.addEventListener('click', () => setMode('signup'));
  for (const t of [tabLogin, tabSignup]) {
    t.addEventListener('keydown', (e) => {
      if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
        const next = t === tabLogin ? tabSignup : tabLogin;
        next.focus();
        next.click();
      }
    });
  }

  function validate() {
    let ok = true;
    const u = username.input.value.trim();
    username.setError('');
    password.setError('');
    if (!u) { username.setError('Enter a username'); ok = false; }
    else if (mode === 'signup' && !USERNAME_RE.test(u)) {
      username.setError('Usernames are 3–32 characters: a–z, 0–9, dot, dash or underscore');
      ok = false;
    }
    if (!password.input.value) { password.setError('Enter a password'); ok = false; }
    else if (mode === 'signup' && password.input.value.length < 8) {
      password.setError('Use at least 8 characters for the password');
      ok = false;
    }
    return ok;
  }

  function lockFor(seconds) {
    lockedUntil = Date.now() + seconds * 1000;
    clearInterval(lockTimer);
    submit.disabled = true;
    lockTimer = setInterval(() => {
      const left = Math.ceil((lockedUntil - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(lockTimer);
        submit.disabled = false;
        formError.textContent = '';
      } else {
        formError.textContent = `Too many attempts; try again in ${left} s`;
      }
    }, 1000);
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (Date.now() < lockedUntil) return;
    formError.textContent = '';
    if (!validate()) {
      form.querySelector('[aria-invalid="true"]')?.focus();
      return;
    }
    const u = username.input.value.trim();
    const p = password.input.value;
    submit.disabled = true;
    submit.setAttribute('aria-busy', 'true');
    try {
      if (mode === 'signup') {
        try {
          await api.createAccount(u, p, displayName.input.value.trim());
        } catch (err) {
          if (err instanceof api.ApiError && (err.code === 'username_taken' || err.status === 409)) {
            username.setError('That username is taken');
            username.input.focus();
            return;
          }
          throw err;
        }
      }
      const res = await api.login(u, p, remember.checked);
      onLoggedIn(res && res.user ? res.user : await api.getMe());
    } catch (err) {
      const text = loginErrorText(err, mode);
      formError.textContent = text;
      if (err.status === 429) lockFor(err.retryAfter ?? 60);
    } finally {
      submit.removeAttribute('aria-busy');
      if (Date.now() >= lockedUntil) submit.disabled = false;
    }
  });

  const card = h('div', { class: 'welcome-card' },
    h('div', { class: 'brand' }, h('img', { src: '/app/icon.svg', alt: '' }), h('h1', null, 'Chatly')),
    h('p', { class: 'welcome-lead' }, 'Private chat that runs on your own machine and finds its peers by itself.'),
    notice ? h('p', { class: 'form-error', role: 'status' }, notice) : null,
    h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Log in or sign up' }, tabLogin, tabSignup),
    form,
    h('p', { class: 'welcome-foot' }, 'Your account lives on this node; people on other nodes see your name and messages.'));

  tabLogin.setAttribute('aria-controls', 'welcome-panel');
  tabSignup.setAttribute('aria-controls', 'welcome-panel');
  form.id = 'welcome-panel';
  replaceChildren(root, h('main', { class: 'welcome' }, card));
  setMode('login');
  username.input.focus();
  return { setMode };
}
