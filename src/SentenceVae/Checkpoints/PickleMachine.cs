using System.Numerics;
using System.Text;

namespace SentenceVae.Checkpoints;

/// <summary>A Python global named by a pickle (<c>module.name</c>); never resolved to anything that runs.</summary>
internal sealed record PickleGlobal(string Module, string Name)
{
    public override string ToString() => $"{Module}.{Name}";
}

/// <summary>
/// An object the pickle asked a global to build (<c>REDUCE</c>, <c>NEWOBJ</c>, <c>INST</c>/<c>OBJ</c>):
/// kept as inert data — the global, its arguments, the state <c>BUILD</c> gave it and any items appended
/// or set on it. Nothing is constructed with behaviour (mmengine's HistoryBuffer, numpy arrays and
/// scalars, … end up as these).
/// </summary>
internal sealed class PickleObject(PickleGlobal type, object?[] args)
{
    public PickleGlobal Type { get; } = type;
    public object?[] Args { get; } = args;
    public object? State { get; set; }
    public List<object?> Items { get; } = [];
}

/// <summary>A pickled dict (ordered; keys may be any pickled value).</summary>
internal sealed class PickleDict : List<KeyValuePair<object?, object?>>
{
    public object? this[string key] => this.FirstOrDefault(kv => kv.Key is string s && s == key).Value;
    public bool Has(string key) => this.Any(kv => kv.Key is string s && s == key);
}

/// <summary>
/// A pickle virtual machine that only builds data: lists, tuples (object?[]), dicts (<see cref="PickleDict"/>),
/// numbers, strings, bytes, and for globals <see cref="PickleGlobal"/> / <see cref="PickleObject"/> — or
/// whatever <see cref="Reduce"/> makes of the few globals the caller understands (tensors, storages).
/// Persistent ids go to <see cref="PersistentLoad"/>. Every length is checked against the bytes left
/// before anything is allocated, so a malformed pickle fails with <see cref="CheckpointException"/>.
/// </summary>
internal sealed class PickleMachine(byte[] program, string source)
{
    private static readonly object Mark = new();
    private readonly List<object?> stack = [];
    private readonly Stack<int> marks = new();
    private readonly Dictionary<long, object?> memo = [];
    private int at;

    /// <summary>Turns a (global, args) call into a value; null: keep it as an inert <see cref="PickleObject"/>.</summary>
    public Func<PickleGlobal, object?[], object?>? Reduce { get; init; }
    /// <summary>Sees every global the program names (GLOBAL, STACK_GLOBAL, INST) as it is read; may throw to refuse the program.</summary>
    public Action<PickleGlobal>? OnGlobal { get; init; }
    /// <summary>Resolves a persistent id (torch: a storage tuple).</summary>
    public Func<object?, object?> PersistentLoad { get; init; } = id => throw new CheckpointException($"unexpected persistent id {id}");

    private CheckpointException Bad(string what) => new($"{source}: malformed pickle: {what} (at byte {at})");

    public object? Run()
    {
        while (true)
        {
            if (at >= program.Length) throw Bad("no STOP");
            byte op = program[at++];
            switch (op)
            {
                case (byte)'.': return stack.Count == 1 ? stack[0] : throw Bad($"STOP with {stack.Count} items on the stack");
                case 0x80: Take(1); break;                                                        // PROTO
                case 0x95: Take(8); break;                                                        // FRAME
                case (byte)'(': stack.Add(Mark); marks.Push(stack.Count - 1); break;              // MARK
                case (byte)'0': Pop(); break;                                                     // POP
                case (byte)'1': PopMark(); break;                                                 // POP_MARK
                case (byte)'2': stack.Add(Peek()); break;                                         // DUP
                case (byte)'N': stack.Add(null); break;
                case 0x88: stack.Add(true); break;
                case 0x89: stack.Add(false); break;
                case (byte)'K': stack.Add((long)Take(1)[0]); break;                               // BININT1
                case (byte)'M': stack.Add((long)BitConverter.ToUInt16(Take(2))); break;           // BININT2
                case (byte)'J': stack.Add((long)BitConverter.ToInt32(Take(4))); break;            // BININT
                case 0x8a: stack.Add(Long(Take(Length(1)))); break;                               // LONG1
                case 0x8b: stack.Add(Long(Take(Length(4)))); break;                               // LONG4
                case (byte)'I':                                                                   // INT (00/01: bools)
                {
                    string s = Line();
                    stack.Add(s switch { "00" => false, "01" => true, _ => long.TryParse(s, out long v) ? v : throw Bad($"INT '{Clip(s)}'") });
                    break;
                }
                case (byte)'L':
                {
                    string s = Line().TrimEnd('L');
                    stack.Add(BigInteger.TryParse(s, out var v) ? Narrow(v) : throw Bad($"LONG '{Clip(s)}'"));
                    break;
                }
                case (byte)'G': stack.Add(System.Buffers.Binary.BinaryPrimitives.ReadDoubleBigEndian(Take(8))); break;   // BINFLOAT
                case (byte)'F': stack.Add(double.TryParse(Line(), System.Globalization.CultureInfo.InvariantCulture, out double f) ? f : throw Bad("FLOAT")); break;
                case 0x8c: stack.Add(Utf8(Take(Length(1)))); break;                               // SHORT_BINUNICODE
                case (byte)'X': stack.Add(Utf8(Take(Length(4)))); break;                          // BINUNICODE
                case 0x8d: stack.Add(Utf8(Take(Length(8)))); break;                               // BINUNICODE8
                case (byte)'V': stack.Add(Line()); break;                                         // UNICODE (raw-unicode-escape; kept as is)
                case (byte)'S': stack.Add(Line().Trim('\'', '"')); break;                         // STRING
                case (byte)'U': stack.Add(Latin1(Take(Length(1)))); break;                        // SHORT_BINSTRING
                case (byte)'T': stack.Add(Latin1(Take(Length(4)))); break;                        // BINSTRING
                case (byte)'C': stack.Add(Take(Length(1)).ToArray()); break;                      // SHORT_BINBYTES
                case (byte)'B': stack.Add(Take(Length(4)).ToArray()); break;                      // BINBYTES
                case 0x8e: case 0x96: stack.Add(Take(Length(8)).ToArray()); break;                // BINBYTES8, BYTEARRAY8
                case (byte)']': stack.Add(new List<object?>()); break;                            // EMPTY_LIST
                case (byte)')': stack.Add(Array.Empty<object?>()); break;                         // EMPTY_TUPLE
                case (byte)'}': stack.Add(new PickleDict()); break;                               // EMPTY_DICT
                case 0x8f: stack.Add(new List<object?>()); break;                                 // EMPTY_SET (as a list)
                case 0x85: stack.Add(new[] { Pop() }); break;                                     // TUPLE1
                case 0x86: { var b = Pop(); var a = Pop(); stack.Add(new[] { a, b }); break; }     // TUPLE2
                case 0x87: { var c = Pop(); var b = Pop(); var a = Pop(); stack.Add(new[] { a, b, c }); break; }
                case (byte)'t': stack.Add(PopMark().ToArray()); break;                            // TUPLE
                case 0x91: stack.Add(PopMark()); break;                                           // FROZENSET (as a list)
                case (byte)'l': stack.Add(PopMark()); break;                                      // LIST
                case (byte)'d': stack.Add(Dict(PopMark())); break;                                // DICT
                case (byte)'a': { var item = Pop(); Append(Peek(), [item]); break; }              // APPEND
                case (byte)'e': case 0x90: { var items = PopMark(); Append(Peek(), items); break; }   // APPENDS, ADDITEMS
                case (byte)'s': { var v = Pop(); var k = Pop(); SetItems(Peek(), [k, v]); break; } // SETITEM
                case (byte)'u': { var items = PopMark(); SetItems(Peek(), items); break; }        // SETITEMS
                case (byte)'p': memo[long.TryParse(Line(), out long p) ? p : throw Bad("PUT")] = Peek(); break;
                case (byte)'q': memo[Take(1)[0]] = Peek(); break;                                 // BINPUT
                case (byte)'r': memo[BitConverter.ToUInt32(Take(4))] = Peek(); break;            // LONG_BINPUT
                case 0x94: memo[memo.Count] = Peek(); break;                                      // MEMOIZE
                case (byte)'g': stack.Add(Get(long.TryParse(Line(), out long key) ? key : throw Bad("GET"))); break;
                case (byte)'h': stack.Add(Get(Take(1)[0])); break;                                // BINGET
                case (byte)'j': stack.Add(Get(BitConverter.ToUInt32(Take(4)))); break;           // LONG_BINGET
                case (byte)'c': stack.Add(Global(Line(), Line())); break;                         // GLOBAL
                case 0x93:                                                                        // STACK_GLOBAL
                {
                    var name = Pop() as string ?? throw Bad("STACK_GLOBAL name is not a string");
                    var module = Pop() as string ?? throw Bad("STACK_GLOBAL module is not a string");
                    stack.Add(Global(module, name));
                    break;
                }
                case (byte)'R': { var args = Pop() as object?[] ?? throw Bad("REDUCE arguments are not a tuple"); stack.Add(Call(Pop(), args)); break; }
                case 0x81: { var args = Pop() as object?[] ?? throw Bad("NEWOBJ arguments are not a tuple"); stack.Add(Call(Pop(), args)); break; }
                case 0x92: { Pop(); var args = Pop() as object?[] ?? throw Bad("NEWOBJ_EX arguments are not a tuple"); stack.Add(Call(Pop(), args)); break; }
                case (byte)'i': { var g = Global(Line(), Line()); stack.Add(Call(g, PopMark().ToArray())); break; }   // INST
                case (byte)'o': { var items = PopMark(); if (items.Count == 0) throw Bad("OBJ without a class"); stack.Add(Call(items[0], items.Skip(1).ToArray())); break; }
                case (byte)'b':                                                                   // BUILD
                {
                    var state = Pop();
                    switch (Peek())
                    {
                        case PickleObject o: o.State = state; break;
                        default: break;     // a dict's attributes (an OrderedDict's _metadata) or state on a value the caller built: not items, ignored
                    }
                    break;
                }
                case (byte)'Q': stack.Add(PersistentLoad(Pop())); break;                          // BINPERSID
                case (byte)'P': stack.Add(PersistentLoad(Line())); break;                         // PERSID
                case 0x82: case 0x83: case 0x84:
                    throw new CheckpointException($"{source}: refusing to load: the pickle uses the extension registry (opcode 0x{op:x2})");
                case 0x97: case 0x98:
                    throw Bad("out-of-band buffers are not supported");
                default:
                    throw Bad($"unknown opcode 0x{op:x2}");
            }
        }
    }

    private PickleGlobal Global(string module, string name)
    {
        var g = new PickleGlobal(module, name);
        OnGlobal?.Invoke(g);
        return g;
    }

    private object? Call(object? callable, object?[] args) => callable switch
    {
        PickleGlobal g => Reduce?.Invoke(g, args) ?? new PickleObject(g, args),
        _ => throw Bad("a call on something that is not a global"),
    };

    private void Append(object? target, List<object?> items)
    {
        switch (target)
        {
            case List<object?> list: list.AddRange(items); break;
            case PickleObject o: o.Items.AddRange(items); break;
            default: throw Bad("APPEND to something that is not a list");
        }
    }

    private void SetItems(object? target, List<object?> items)
    {
        if (items.Count % 2 != 0) throw Bad("SETITEMS with an odd count");
        var pairs = Enumerable.Range(0, items.Count / 2).Select(k => new KeyValuePair<object?, object?>(items[2 * k], items[2 * k + 1]));
        switch (target)
        {
            case PickleDict d: d.AddRange(pairs); break;
            case PickleObject o: o.Items.AddRange(pairs.Cast<object?>()); break;
            default: throw Bad("SETITEM on something that is not a dict");
        }
    }

    private PickleDict Dict(List<object?> items)
    {
        var d = new PickleDict();
        SetItems(d, items);
        return d;
    }

    private ReadOnlySpan<byte> Take(long n)
    {
        if (n < 0 || n > program.Length - at) throw Bad($"a length of {n} bytes runs past the end");
        var span = program.AsSpan(at, (int)n);
        at += (int)n;
        return span;
    }

    private long Length(int bytes)
    {
        var b = Take(bytes);
        long n = bytes switch { 1 => b[0], 4 => BitConverter.ToUInt32(b), _ => BitConverter.ToInt64(b) };
        return n >= 0 && n <= program.Length - at ? n : throw Bad($"a length of {n} bytes runs past the end");
    }

    private string Line()
    {
        int end = Array.IndexOf(program, (byte)'\n', at);
        if (end < 0) throw Bad("a line without its end");
        string s = Encoding.UTF8.GetString(program, at, end - at);
        at = end + 1;
        return s;
    }

    private object? Pop()
    {
        if (stack.Count == 0 || ReferenceEquals(stack[^1], Mark)) throw Bad("stack underflow");
        var v = stack[^1];
        stack.RemoveAt(stack.Count - 1);
        return v;
    }

    private object? Peek() => stack.Count > 0 && !ReferenceEquals(stack[^1], Mark) ? stack[^1] : throw Bad("stack underflow");

    private List<object?> PopMark()
    {
        if (marks.Count == 0) throw Bad("no MARK");
        int m = marks.Pop();
        if (m >= stack.Count || !ReferenceEquals(stack[m], Mark)) throw Bad("MARK lost");
        var items = stack.GetRange(m + 1, stack.Count - m - 1);
        stack.RemoveRange(m, stack.Count - m);
        return items;
    }

    private object? Get(long key) => memo.TryGetValue(key, out var v) ? v : throw Bad($"memo {key} was never set");

    private static object Long(ReadOnlySpan<byte> b) => Narrow(new BigInteger(b, isUnsigned: false, isBigEndian: false));
    private static object Narrow(BigInteger v) => v >= long.MinValue && v <= long.MaxValue ? (object)(long)v : v;
    private static string Utf8(ReadOnlySpan<byte> b) => Encoding.UTF8.GetString(b);
    private static string Latin1(ReadOnlySpan<byte> b) => Encoding.Latin1.GetString(b);
    private static string Clip(string s) => s.Length > 40 ? s[..40] + "…" : s;
}
