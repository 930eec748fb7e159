using System.Diagnostics;

namespace SentenceVae.Tests.Twin;

/// <summary>The twin's test classes run one after another: each runs torch processes that want both cores.</summary>
[CollectionDefinition(Name)]
public sealed class TwinCollection
{
    public const string Name = "PyTorch twin";
}

/// <summary>Runs the PyTorch twin's modules (python/svae_twin) and reads what they write.</summary>
internal static class TwinProcess
{
    /// <summary>The directory that holds the svae_twin package.</summary>
    public static readonly string Package = Path.Combine(TestPaths.RepoRoot, "python");

    /// <summary>Runs a command with the twin's package on PYTHONPATH and one OpenMP thread: its standard output, or a failure naming it.</summary>
    public static string Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = Package };
        start.Environment["PYTHONPATH"] = Package;
        start.Environment["OMP_NUM_THREADS"] = "1";
        using var p = Process.Start(start)!;
        var output = p.StandardOutput.ReadToEndAsync();
        var error = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(600_000))
        {
            p.Kill(entireProcessTree: true);                       // a hung run must not keep spinning after the test
            Assert.Fail($"{file} {string.Join(' ', args)} did not end within 10 minutes:\n{error.Result}\n{output.Result}");
        }
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} failed:\n{error.Result}\n{output.Result}");
        return output.Result;
    }

    /// <summary>A python -m svae_twin.MODULE run.</summary>
    public static string Module(string module, params string[] args) => Run(TorchFactAttribute.Python, ["-m", "svae_twin." + module, .. args]);

    /// <summary>A torchrun of svae_twin.train on <paramref name="processes"/> processes, its rendezvous on a free port of its own.</summary>
    public static string Torchrun(int processes, params string[] trainArgs)
    {
        // torch 1.13's --standalone always takes port 29400, so two runs at once would meet; a static rendezvous on a free port cannot.
        // Its torchrun on Python 3.11 also cannot parse its default --redirects/--tee ("0"); 2 (stderr) parses.
        int port;
        using (var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            listener.Start();
            port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        }
        return Run(TorchFactAttribute.Torchrun, ["--nnodes", "1", "--master_addr", "127.0.0.1", "--master_port", port.ToString(), "--nproc_per_node", processes.ToString(),
            "--redirects", "2", "--tee", "2", "-m", "svae_twin.train", .. trainArgs]);
    }

    /// <summary>A file of little-endian float32 values.</summary>
    public static float[] ReadFloats(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }
}
