// Self-check for linkify.js. Run with: node web/static/shared/linkify.test.mjs
// No DOM is needed: a small fake document records what linkify builds.
import { findLinks, linkify, WIDGET_SCHEMES, DESK_SCHEMES } from './linkify.js';

class FakeNode {
  constructor(kind, tag) {
    this.kind = kind;
    this.tag = tag;
    this.attrs = {};
    this.children = [];
    this._text = '';
  }
  append(...nodes) { this.children.push(...nodes); }
  setAttribute(k, v) { this.attrs[k] = String(v); }
  set textContent(v) { this._text = String(v); }
  get textContent() { return this.kind === 'text' || this.kind === 'el' && this.children.length === 0 ? this._text : this.children.map((c) => c.textContent).join(''); }
  set innerHTML(_) { throw new Error('linkify must not use innerHTML'); }
}
const fakeDoc = {
  createDocumentFragment: () => new FakeNode('frag'),
  createTextNode: (t) => { const n = new FakeNode('text'); n._text = t; return n; },
  createElement: (tag) => new FakeNode('el', tag),
};

let failures = 0;
let count = 0;
function check(name, got, want) {
  count++;
  const g = JSON.stringify(got), w = JSON.stringify(want);
  if (g !== w) {
    failures++;
    console.error(`FAIL ${name}\n  got:  ${g}\n  want: ${w}`);
  }
}
const hrefs = (text, schemes = WIDGET_SCHEMES) => findLinks(text, { schemes }).map((l) => l.href);
const texts = (text, schemes = WIDGET_SCHEMES) => findLinks(text, { schemes }).map((l) => l.text);

// Links that must be made.
check('plain https', hrefs('see https://example.com/a?b=1#c now'), ['https://example.com/a?b=1#c']);
check('a bare www. link is taken as https', hrefs('see www.example.com/help?x=1 now'), ['https://www.example.com/help?x=1']);
check('www. at the end of a sentence', texts('Go to www.example.co.uk.'), ['www.example.co.uk']);
check('www. in brackets', texts('(www.example.com)'), ['www.example.com']);
check('www. with an upper-case host', hrefs('WWW.Example.COM'), ['https://www.example.com/']);
check('www. alone is not a link', hrefs('the www. prefix and www.localhost'), []);
check('an address starting with www. stays an e-mail link', hrefs('mail www.jo@example.com'), ['mailto:www.jo@example.com']);
check('www. inside a word is not a link', hrefs('xwww.example.com'), []);
check('www. in an http link is one link', hrefs('https://www.example.com/a'), ['https://www.example.com/a']);
check('plain http', hrefs('http://example.com'), ['http://example.com/']);
check('upper-case scheme', hrefs('HTTPS://EXAMPLE.COM/x'), ['https://example.com/x']);
check('trailing period dropped', texts('Go to https://example.com/help.'), ['https://example.com/help']);
check('trailing comma and quote', texts('"https://example.com/a", then'), ['https://example.com/a']);
check('balanced parens kept', texts('(see https://en.wikipedia.org/wiki/Foo_(bar))'), ['https://en.wikipedia.org/wiki/Foo_(bar)']);
check('unbalanced paren dropped', texts('(https://example.com/x)'), ['https://example.com/x']);
check('bare e-mail becomes mailto', hrefs('write to help@acme.example.com please'), ['mailto:help@acme.example.com']);
check('e-mail at end of sentence', texts('Mail anna.b+tag@acme.io.'), ['anna.b+tag@acme.io']);
check('mailto kept', hrefs('mailto:sales@acme.io?subject=Hi'), ['mailto:sales@acme.io?subject=Hi']);
check('two links', hrefs('https://a.example and b@c.de'), ['https://a.example/', 'mailto:b@c.de']);
check('url with credentials is one link', hrefs('https://user@host.example/'), ['https://user@host.example/']);
check('unicode host', hrefs('https://bücher.example/x').length, 1);
check('tel on desk', hrefs('call tel:+4930123456', DESK_SCHEMES), ['tel:+4930123456']);

// Links that must stay text.
check('javascript: stays text', hrefs('javascript:alert(1)'), []);
check('JaVaScRiPt: stays text', hrefs('JaVaScRiPt:alert(document.cookie)'), []);
check('javascript with spaces and entities', hrefs(' javascript&#58;alert(1) java\tscript:alert(1)'), []);
check('data: URL stays text', hrefs('data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=='), []);
// An http URL inside another string is an honest http link; the data: URL around it is not.
check('data: around an http URL', hrefs('data:text/html,http://evil.example'), ['http://evil.example/']);
check('javascript: with http inside', hrefs('javascript:http://evil.example'), []);
check('vbscript and file stay text', hrefs('vbscript:msgbox(1) file:///etc/passwd'), []);
check('protocol-relative stays text', hrefs('//evil.example/x'), []);
check('scheme glued to a word', hrefs('xhttp://evil.example'), []);
check('tel not on the widget', hrefs('tel:+4930123456'), []);
check('bare http:// alone', hrefs('http:// nothing'), []);
check('ftp stays text', hrefs('ftp://files.example/x'), []);
check('html is not a link', hrefs('<a href="javascript:alert(1)">x</a>'), []);
check('html with http inside quotes links only the URL', texts('<a href="http://e.example">x</a>'), ['http://e.example']);
check('no TLD no link', hrefs('user@localhost'), []);
check('empty', hrefs(''), []);
check('not a string', hrefs(null), []);

// The DOM that linkify builds.
const frag = linkify('Hi! See https://acme.example/help or mail help@acme.example. <b>javascript:alert(1)</b>', { doc: fakeDoc });
check('fragment pieces', frag.children.map((c) => c.kind + (c.tag ? ':' + c.tag : '')), ['text', 'el:a', 'text', 'el:a', 'text']);
const [a1, a2] = frag.children.filter((c) => c.kind === 'el');
check('anchor attributes', a1.attrs, { href: 'https://acme.example/help', target: '_blank', rel: 'noopener noreferrer', class: 'msg-link' });
check('anchor text', a1.textContent, 'https://acme.example/help');
check('mailto anchor', [a2.attrs.href, a2.attrs.rel, a2.attrs.target], ['mailto:help@acme.example', 'noopener noreferrer', '_blank']);
check('markup stays text', frag.children.at(-1).textContent, '. <b>javascript:alert(1)</b>');
check('text round-trips', frag.children.map((c) => c.textContent).join(''), 'Hi! See https://acme.example/help or mail help@acme.example. <b>javascript:alert(1)</b>');

// Naughty strings, when the shared vectors are around: no anchor may have
// a scheme outside the allowlist, and the text must round-trip exactly.
try {
  const { readFile } = await import('node:fs/promises');
  const url = new URL('../../../../shared/vectors/chat-content/blns.json', import.meta.url);
  const strings = JSON.parse(await readFile(url, 'utf8'));
  let bad = 0;
  for (const s of strings) {
    const f = linkify(s, { doc: fakeDoc, schemes: DESK_SCHEMES });
    if (f.children.map((c) => c.textContent).join('') !== s) bad++;
    for (const c of f.children) {
      if (c.kind === 'el' && !/^(https?:|mailto:|tel:)/.test(c.attrs.href)) bad++;
    }
  }
  check(`naughty strings (${strings.length})`, bad, 0);
} catch (e) {
  if (e.code !== 'ENOENT') throw e;
}

if (failures) {
  console.error(`${failures} of ${count} checks failed`);
  process.exit(1);
}
console.log(`ok: ${count} linkify checks passed`);
