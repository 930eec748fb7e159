using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace SentenceVae.Tests.Package;

/// <summary>The C# snippets of the README and docs/ compile as pasted: each becomes a method of a small project built against the library.</summary>
public class ReadmeSnippetTests
{
    private static readonly Regex Directive = new(@"^using [A-Z][\w.]*;\s*$", RegexOptions.Compiled);

    /// <summary>The ```csharp blocks of the README and of the pages in docs/, in order.</summary>
    public static List<string> Snippets() =>
        Directory.GetFiles(Path.Combine(TestPaths.RepoRoot, "docs"), "*.md").Order(StringComparer.Ordinal).Prepend(Path.Combine(TestPaths.RepoRoot, "README.md"))
            .SelectMany(page => Regex.Matches(File.ReadAllText(page), @"```csharp\n(.*?)```", RegexOptions.Singleline).Select(m => m.Groups[1].Value)).ToList();

    [Fact]
    public async Task EveryCSharpSnippetInTheReadmeCompilesAsPasted()
    {
        var snippets = Snippets();
        Assert.True(snippets.Count >= 3, $"the README has its C# snippets ({snippets.Count})");
        var usings = new SortedSet<string>(StringComparer.Ordinal);
        var methods = new StringBuilder();
        for (int i = 0; i < snippets.Count; i++)
        {
            // A snippet's using directives go to the top of the file (as a pasted Program.cs has them); its statements into a method.
            var lines = snippets[i].Split('\n');
            foreach (var line in lines.Where(l => Directive.IsMatch(l))) usings.Add(line.Trim());
            methods.AppendLine($"    public static async Task Snippet{i}()\n    {{");
            foreach (var line in lines.Where(l => !Directive.IsMatch(l))) methods.AppendLine("        " + line);
            methods.AppendLine("        await Task.CompletedTask;\n    }");
        }
        string work = Directory.CreateTempSubdirectory("svae-readme").FullName;
        try
        {
            string bin = AppContext.BaseDirectory;
            File.WriteAllText(Path.Combine(work, "Snippets.csproj"), $"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <TargetFramework>net10.0</TargetFramework><ImplicitUsings>enable</ImplicitUsings><Nullable>enable</Nullable>
                    <NoWarn>CS1998;CS0168;CS0219;CS8321</NoWarn>
                  </PropertyGroup>
                  <ItemGroup>
                    <Reference Include="SentenceVae"><HintPath>{Path.Combine(bin, "SentenceVae.dll")}</HintPath></Reference>
                    <Reference Include="TorchSharp"><HintPath>{Path.Combine(bin, "TorchSharp.dll")}</HintPath></Reference>
                    <Reference Include="Microsoft.ML.Tokenizers"><HintPath>{Path.Combine(bin, "Microsoft.ML.Tokenizers.dll")}</HintPath></Reference>
                    <Reference Include="Microsoft.Extensions.AI.Abstractions"><HintPath>{Path.Combine(bin, "Microsoft.Extensions.AI.Abstractions.dll")}</HintPath></Reference>
                    <Reference Include="OpenAI"><HintPath>{Path.Combine(bin, "OpenAI.dll")}</HintPath></Reference>
                    <Reference Include="System.ClientModel"><HintPath>{Path.Combine(bin, "System.ClientModel.dll")}</HintPath></Reference>
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(work, "Snippets.cs"), string.Join("\n", usings) + "\n\npublic static class Snippets\n{\n" + methods + "}\n");
            var start = new ProcessStartInfo("dotnet", ["build", "--nologo", "-v", "q"]) { WorkingDirectory = work, RedirectStandardOutput = true, RedirectStandardError = true };
            start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            start.Environment["MSBUILDDISABLENODEREUSE"] = "1";
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var errors = process.StandardError.ReadToEndAsync();
            using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            await process.WaitForExitAsync(limit.Token);
            Assert.True(process.ExitCode == 0, await output + await errors + "\n" + File.ReadAllText(Path.Combine(work, "Snippets.cs")));
        }
        finally { Directory.Delete(work, true); }
    }
}
