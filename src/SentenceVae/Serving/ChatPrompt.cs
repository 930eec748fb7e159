using Microsoft.Extensions.AI;

namespace SentenceVae.Serving;

/// <summary>
/// The prompt template that turns chat messages into text for models that were never chat-tuned (the
/// shipped models continue prose): one line per message, <c>Role: text</c>, and a last
/// <c>Assistant:</c> for the model to continue, e.g.
/// <code>
/// System: You are terse.
/// User: Who is Emma?
/// Assistant:
/// </code>
/// A message's text is its text contents joined; other contents (images, function calls) are refused.
/// Both <c>/v1/chat/completions</c> and <see cref="SentenceVaeChatClient"/> use it.
/// </summary>
public static class ChatPrompt
{
    /// <summary>The text the model continues for these messages.</summary>
    public static string Format(IEnumerable<ChatMessage> messages)
    {
        var lines = new List<string>();
        foreach (var message in messages)
        {
            if (message.Contents.Any(c => c is not TextContent))
                throw ServingException.Invalid("only text message contents can be read by these models", "messages");
            lines.Add($"{RoleName(message.Role)}: {message.Text}");
        }
        if (lines.Count == 0) throw ServingException.Invalid("messages must hold at least one message", "messages");
        lines.Add("Assistant:");
        return string.Join("\n", lines);
    }

    private static string RoleName(ChatRole role) =>
        role == ChatRole.System ? "System" : role == ChatRole.User ? "User" : role == ChatRole.Assistant ? "Assistant" : role == ChatRole.Tool ? "Tool"
        : char.ToUpperInvariant(role.Value[0]) + role.Value[1..];
}
