// A small XML well-formedness check for the unit tests (the e2e test uses xmllint): one root
// element, tags nested and closed in order, attributes quoted and not repeated, no raw `<` or
// stray `&` in text or attribute values, only the five named entities or character references.
// Returns the first error, or undefined when the document is well-formed.
const NAME = /^[A-Za-z_:][A-Za-z0-9_:.-]*$/;
const ENTITY = /&(?!(amp|lt|gt|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);)/;

export function xmlError(doc: string): string | undefined {
  let rest = doc.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: string[] = [];
  let roots = 0;
  while (rest.length > 0) {
    const lt = rest.indexOf('<');
    const text = lt < 0 ? rest : rest.slice(0, lt);
    if (ENTITY.test(text)) return `bad entity in text ${JSON.stringify(text.slice(0, 40))}`;
    if (stack.length === 0 && text.trim() !== '') return 'text outside the root element';
    if (lt < 0) break;
    rest = rest.slice(lt);
    if (rest.startsWith('<!--')) {
      const end = rest.indexOf('-->');
      if (end < 0) return 'unclosed comment';
      rest = rest.slice(end + 3);
      continue;
    }
    const m = /^<(\/?)([^\s/>]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/.exec(rest);
    if (!m) return `malformed tag at ${JSON.stringify(rest.slice(0, 40))}`;
    const [all, closing, name, attrs, selfClosing] = m;
    if (!NAME.test(name)) return `bad element name ${name}`;
    const seen = new Set<string>();
    for (const a of attrs.matchAll(/([^\s=]+)\s*=\s*("[^"]*"|'[^']*')/g)) {
      if (!NAME.test(a[1])) return `bad attribute name ${a[1]}`;
      if (seen.has(a[1])) return `attribute ${a[1]} repeated on <${name}>`;
      seen.add(a[1]);
      if (ENTITY.test(a[2])) return `bad entity in attribute ${a[1]}`;
    }
    if (closing) {
      if (stack.pop() !== name) return `</${name}> closes the wrong element`;
    } else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) roots++;
    if (roots > 1) return 'more than one root element';
    rest = rest.slice(all.length);
  }
  if (stack.length > 0) return `<${stack[stack.length - 1]}> is not closed`;
  return roots === 1 ? undefined : 'no root element';
}
