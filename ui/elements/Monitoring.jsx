import { useEffect, useState } from "react";

// The monitoring panel. It asks the API for fresh figures itself (/monitoring/panel, with
// the page's login cookie), so the server never sends the sidebar again: sent again every
// few seconds, it reopened the panel a user had closed and took the focus from the message
// being typed. Any worker of `society ui --workers N` answers it (a Chainlit action only
// reached the worker holding the page's socket).
export default function Monitoring() {
  const [figures, setFigures] = useState(null);
  const [failed, setFailed] = useState(null);
  useEffect(() => {
    let gone = false;
    async function read() {
      try {
        const language = encodeURIComponent(navigator.language || "en");
        const answer = await fetch(`/monitoring/panel?language=${language}`, { credentials: "same-origin" });
        if (!answer.ok) throw new Error(answer.statusText || String(answer.status));
        const read = await answer.json();
        if (!gone) {
          setFigures(read);
          setFailed(null);
        }
      } catch (err) {
        if (!gone) setFailed(String(err));
      }
    }
    read();
    const timer = setInterval(read, (props.every || 3) * 1000);
    return () => {
      gone = true;
      clearInterval(timer);
    };
  }, []);
  if (!figures) {
    return <p className="text-sm">{failed ? `monitoring failed (${failed}); retrying` : props.reading}</p>;
  }
  return (
    <div className="text-sm">
      <table className="w-full">
        <thead>
          <tr>
            <th></th>
            <th className="text-left">{figures.now}</th>
          </tr>
        </thead>
        <tbody>
          {figures.rows.map(([name, value]) => (
            <tr key={name}>
              <td className="pr-3 py-1 align-top">{name}</td>
              <td className="py-1">{value}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="italic mt-3">{figures.updated}</p>
    </div>
  );
}
