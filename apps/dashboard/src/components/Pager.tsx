/** First / previous / next / last page buttons for a zero-based `page` of `pages`. */
export function Pager({ page, pages, onPage }: { page: number; pages: number; onPage: (page: number) => void }) {
  return (
    <span className="pager">
      <button type="button" onClick={() => onPage(0)} disabled={page === 0} aria-label="First page">
        «
      </button>
      <button type="button" onClick={() => onPage(page - 1)} disabled={page === 0} aria-label="Previous page">
        ‹
      </button>
      <button type="button" onClick={() => onPage(page + 1)} disabled={page >= pages - 1} aria-label="Next page">
        ›
      </button>
      <button type="button" onClick={() => onPage(pages - 1)} disabled={page >= pages - 1} aria-label="Last page">
        »
      </button>
    </span>
  );
}
