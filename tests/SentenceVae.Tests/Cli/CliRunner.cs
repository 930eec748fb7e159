using System.Text;
using SentenceVae.Cli;

namespace SentenceVae.Tests.Cli;

/// <summary>Runs the svae command line in process with given standard input; returns its exit code, stdout and stderr.</summary>
internal static class CliRunner
{
    public static (int Code, string Out, string Err) Run(byte[] stdin, params string[] args)
    {
        var output = new MemoryStream();
        var error = new StringWriter();
        int code = SvaeCli.Run(args, new MemoryStream(stdin), output, error);
        return (code, Encoding.UTF8.GetString(output.ToArray()), error.ToString());
    }

    public static (int Code, string Out, string Err) Run(params string[] args) => Run([], args);
}
