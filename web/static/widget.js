/*
 * contactd widget loader. Embed on any page with one tag:
 *
 *   <script src="https://SERVER/widget.js" data-queue="sales" data-lang="en"
 *           data-account="A-123" data-phone="+4930..." data-location="Berlin" async></script>
 *
 * It adds a "Live help" launcher and, when opened, an iframe with the chat
 * (SERVER/widget/frame.html). Everything the chat does happens inside the
 * iframe, on the server's origin; this file only places it on the page. It
 * sets no inline styles (SERVER/widget-launcher.css styles it), and leaves
 * one global: window.ContactdWidget {open, close, toggle}.
 */
(function () {
  'use strict';
  if (window.ContactdWidget) return; // included twice

  var script = document.currentScript ||
    document.querySelector('script[src*="/widget.js"][data-queue]') ||
    document.querySelector('script[src*="/widget.js"]');
  if (!script || !script.src) return;

  var server;
  try {
    server = new URL(script.src, location.href).origin;
  } catch (e) {
    return;
  }
  var data = script.dataset || {};
  var queue = data.queue || 'default';
  var lang = data.lang || document.documentElement.lang || navigator.language || 'en';
  var label = data.label || 'Live help';
  var storeKey = 'contactd.widget.' + queue;

  function context() {
    var ctx = { pageUrl: location.href, pageTitle: document.title || '' };
    ['account', 'phone', 'location'].forEach(function (k) {
      if (data[k]) ctx[k] = String(data[k]);
    });
    return ctx;
  }

  function frameURL() {
    var u = new URL('/widget/frame.html', server);
    u.searchParams.set('queue', queue);
    u.searchParams.set('lang', lang);
    u.searchParams.set('ctx', JSON.stringify(context()));
    // Context signed by the site's server (docs/INTEGRATION.md), passed as is.
    if (data.signedContext) u.searchParams.set('sctx', String(data.signedContext).slice(0, 16384));
    return u.href;
  }

  // What the host page remembers: whether a chat is going on and whether the
  // panel was open, so a reload brings the chat back the way it was.
  function readState() {
    try {
      return JSON.parse(localStorage.getItem(storeKey) || '{}') || {};
    } catch (e) {
      return {};
    }
  }
  function writeState(patch) {
    try {
      var s = readState();
      for (var k in patch) s[k] = patch[k];
      localStorage.setItem(storeKey, JSON.stringify(s));
    } catch (e) { /* storage blocked: the chat still works for this page */ }
  }

  var NS = 'http://www.w3.org/2000/svg';
  function svg(paths) {
    var el = document.createElementNS(NS, 'svg');
    el.setAttribute('viewBox', '0 0 24 24');
    el.setAttribute('aria-hidden', 'true');
    el.setAttribute('focusable', 'false');
    el.setAttribute('class', 'contactd-icon');
    paths.forEach(function (d) {
      var p = document.createElementNS(NS, 'path');
      p.setAttribute('d', d);
      el.appendChild(p);
    });
    return el;
  }

  var root = document.createElement('div');
  root.className = 'contactd-widget';
  root.hidden = true; // until the stylesheet has loaded: no unstyled flash

  var launcher = document.createElement('button');
  launcher.type = 'button';
  launcher.className = 'contactd-launcher';
  launcher.setAttribute('aria-expanded', 'false');
  launcher.setAttribute('aria-controls', 'contactd-frame');
  var chatIcon = svg(['M4 5h16v11H9l-5 4z']);
  var closeIcon = svg(['M6 6l12 12', 'M18 6L6 18']);
  closeIcon.setAttribute('class', 'contactd-icon contactd-icon-close');
  var text = document.createElement('span');
  text.className = 'contactd-launcher-label';
  text.textContent = label;
  var badge = document.createElement('span');
  badge.className = 'contactd-badge';
  badge.hidden = true;
  launcher.appendChild(chatIcon);
  launcher.appendChild(closeIcon);
  launcher.appendChild(text);
  launcher.appendChild(badge);

  var panel = document.createElement('div');
  panel.className = 'contactd-panel';
  panel.hidden = true;

  root.appendChild(panel);
  root.appendChild(launcher);

  var iframe = null;
  var isOpen = false;
  var unread = 0;

  function ensureFrame() {
    if (iframe) return iframe;
    iframe = document.createElement('iframe');
    iframe.id = 'contactd-frame';
    iframe.className = 'contactd-frame';
    iframe.title = label + ' chat';
    iframe.src = frameURL();
    iframe.setAttribute('allow', 'microphone; autoplay');
    // On a foreign page the chat may open links in new tabs but may not
    // navigate the page. (On the server's own pages a sandbox that allows
    // scripts and same-origin would protect nothing.)
    if (server !== location.origin) {
      iframe.setAttribute('sandbox', 'allow-scripts allow-same-origin allow-forms allow-popups allow-popups-to-escape-sandbox');
    }
    panel.appendChild(iframe);
    return iframe;
  }

  function post(msg) {
    if (iframe && iframe.contentWindow) {
      msg.ns = 'contactd';
      iframe.contentWindow.postMessage(msg, server);
    }
  }

  function setUnread(n) {
    unread = n;
    badge.textContent = n > 9 ? '9+' : String(n);
    badge.hidden = n === 0 || isOpen;
    launcher.setAttribute('aria-label', n > 0 && !isOpen ? label + ' (' + n + ' new)' : isOpen ? 'Close ' + label : label);
  }

  function open() {
    ensureFrame();
    isOpen = true;
    panel.hidden = false;
    root.classList.add('contactd-open');
    launcher.setAttribute('aria-expanded', 'true');
    setUnread(0);
    writeState({ open: true });
    post({ type: 'open' });
    iframe.focus();
  }

  function close(focusLauncher) {
    isOpen = false;
    panel.hidden = true;
    root.classList.remove('contactd-open');
    launcher.setAttribute('aria-expanded', 'false');
    setUnread(unread);
    writeState({ open: false });
    post({ type: 'closed' });
    if (focusLauncher) launcher.focus();
  }

  root.addEventListener('keydown', function (ev) {
    if (ev.key === 'Escape' && isOpen) close(true);
  });

  launcher.addEventListener('click', function () {
    if (isOpen) close(true);
    else open();
  });

  window.addEventListener('message', function (ev) {
    if (!iframe || ev.source !== iframe.contentWindow || ev.origin !== server) return;
    var m = ev.data;
    if (!m || m.ns !== 'contactd' || typeof m.type !== 'string') return;
    switch (m.type) {
      case 'ready':
        post({ type: isOpen ? 'open' : 'closed' });
        break;
      case 'close':
        close(true);
        break;
      case 'unread':
        if (!isOpen && typeof m.count === 'number' && m.count >= 0) setUnread(Math.min(m.count, 99));
        break;
      case 'active':
        // A chat is running (or not): keep the frame loaded across page loads.
        writeState({ active: !!m.active });
        root.classList.toggle('contactd-active', !!m.active);
        break;
    }
  });

  var css = document.createElement('link');
  css.rel = 'stylesheet';
  css.href = server + '/widget-launcher.css';
  css.addEventListener('load', function () { root.hidden = false; });
  css.addEventListener('error', function () { root.hidden = false; });

  function mount() {
    (document.head || document.documentElement).appendChild(css);
    document.body.appendChild(root);
    setUnread(0);
    var st = readState();
    if (st.active) {
      ensureFrame(); // reconnects the chat in the background
      if (st.open) open();
    }
  }
  if (document.body) mount();
  else document.addEventListener('DOMContentLoaded', mount);

  window.ContactdWidget = Object.freeze({
    open: open,
    close: function () { close(false); },
    toggle: function () { if (isOpen) close(false); else open(); },
  });
})();
