import {
  checkBalanced,
  entries,
  evaluate,
  fileScope,
  modules,
  params,
  parseBicep,
  property,
  resources,
  vars,
} from './bicep';

/** The reader the infra tests rely on: it must read our house style and refuse what it cannot read. */

const deployment = { subscriptionId: 'sub', tenantId: 'tenant', storageSuffix: 'core.windows.net' };

const sample = parseBicep(`// comment with a { brace
@description('Name; it\\'s {not} code')
@minLength(3)
param name string

param retention int = 30

var prefix = '\${name}-\${toLower('X')}'
var pick = empty(name) ? 'none' : '\${prefix}/\${string(retention)}'

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  properties: {
    allowSharedKeyAccess: false // trailing comment }
    nested: {
      deep: 'a:b'
    }
  }
}

resource maybe 'Microsoft.Foo/bars@2020-01-01' = if (!empty(name)) {
  name: '\${name}-x'
}

resource many 'Microsoft.Foo/bars@2020-01-01' = [
  for item in [
    'a'
  ]: {
    name: item
  }
]

module child 'child.bicep' = {
  name: 'child'
  params: {
    a: prefix
    b: {
      'quoted-key': 1
    }
  }
}
`);

describe('test/unit/infra/bicep.ts', () => {
  test('reads declarations, decorators and defaults', () => {
    const p = params(sample);
    expect(p.get('name')).toMatchObject({
      type: 'string',
      decorators: ["@description('Name; it\\'s {not} code')", '@minLength(3)'],
    });
    expect(p.get('name')!.expr).toBeUndefined();
    expect(p.get('retention')!.expr).toBe('30');
    expect([...vars(sample).keys()]).toEqual(['prefix', 'pick']);
  });

  test('reads resources (plain, conditional, loops) and modules, ignoring braces in strings and comments', () => {
    const rs = resources(sample);
    expect(rs.map((r) => [r.symbol, r.type, r.apiVersion, r.condition])).toEqual([
      ['account', 'Microsoft.Storage/storageAccounts', '2023-05-01', undefined],
      ['maybe', 'Microsoft.Foo/bars', '2020-01-01', '!empty(name)'],
      ['many', 'Microsoft.Foo/bars', '2020-01-01', undefined],
    ]);
    expect(property(rs[0]!.body, 'properties.allowSharedKeyAccess')).toBe('false');
    expect(property(rs[0]!.body, 'properties.nested.deep')).toBe("'a:b'");
    expect(property(rs[2]!.body, 'name')).toBe('item');
    const child = modules(sample)[0]!;
    expect(child.path).toBe('child.bicep');
    expect(entries(property(child.body, 'params')!.slice(1, -1)).map(([k]) => k)).toEqual(['a', 'b']);
  });

  test('evaluates interpolation, functions, ternaries and object literals', () => {
    const scope = fileScope(sample, { param: (n) => (n === 'name' ? 'acct' : undefined), deployment });
    expect(evaluate('prefix', scope)).toBe('acct-x');
    expect(evaluate('pick', scope)).toBe('acct-x/30');
    expect(evaluate("union({ a: 1 }, {\n  'b-c': name\n})", scope)).toEqual({ a: 1, 'b-c': 'acct' });
    expect(evaluate('environment().suffixes.storage', scope)).toBe('core.windows.net');
    expect(evaluate("'it\\'s'", scope)).toBe("it's");
  });

  test('refuses what it does not know, so a test cannot pass by accident', () => {
    const scope = fileScope(sample, { deployment });
    expect(() => evaluate('name', scope)).toThrow(/param name has no value and no default/);
    expect(() => evaluate('nope', scope)).toThrow(/Unknown identifier "nope"/);
    expect(() => evaluate('someModule.outputs.x', scope)).toThrow(/Unknown identifier/);
    expect(() => evaluate('base64(retention)', scope)).toThrow(/Unsupported function base64/);
    expect(() => checkBalanced(parseBicep("resource x 'a@b' = {\n  name: 'y'\n"))).toThrow(/unclosed "\{"/);
    expect(() => checkBalanced(parseBicep('var a = [1, 2}'))).toThrow(/unbalanced/);
    expect(() => parseBicep("var a = 'unterminated\n")).toThrow(/Unterminated string/);
  });
});
