package billing

import (
	"context"
	"encoding/csv"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/borderproof/borderproof/internal/errs"
	"github.com/borderproof/borderproof/internal/id"
)

// ExportColumns are the CSV header, documented in EXPORT.md. Append only:
// finance teams parse these files by column name.
var exportColumns = [...]string{
	"usage_id", "occurred_at", "mode", "meter", "quantity", "amount_minor", "currency", "plan_id",
	"partner", "verification_id", "check_id", "synced_at",
}

// ExportColumns returns the CSV header; the slice is new on every call.
func ExportColumns() []string { return append([]string(nil), exportColumns[:]...) }

// ExportUsage writes one CSV row per usage row of the insurer and mode in
// days [From, To] to blob storage under exports/<insurer>/<export id>.csv
// and returns the export with a short-lived download link. The file holds
// ids, meters, quantities and amounts: no personal data.
func (s *Service) ExportUsage(ctx context.Context, in ExportInput) (Export, error) {
	if err := in.Validate(); err != nil {
		return Export{}, err
	}
	if s.blobs == nil {
		return Export{}, errs.E(errs.Unavailable, "exports are not configured")
	}
	// Rows the check pipeline wrote in the last seconds get their amounts.
	if _, err := s.RollUp(ctx); err != nil {
		return Export{}, err
	}
	now := s.now().UTC()
	e := Export{ID: id.NewAt(id.Export, now), InsurerID: in.InsurerID, Mode: in.Mode,
		From: DayStart(in.From), To: DayStart(in.To).AddDate(0, 0, 1), Format: in.Format,
		CreatedBy: in.Actor, CreatedAt: now.Truncate(time.Microsecond)}
	e.Key = "exports/" + in.InsurerID + "/" + e.ID + ".csv"

	// Spool to a temporary file: blob stores need the size up front and a
	// year of usage does not belong in memory.
	f, err := os.CreateTemp("", "borderproof-export-*.csv")
	if err != nil {
		return Export{}, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	rows, err := s.writeCSV(ctx, f, e)
	if err != nil {
		return Export{}, err
	}
	size, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return Export{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return Export{}, err
	}
	e.Rows, e.Bytes = rows, size
	if err := s.blobs.Put(ctx, e.Key, f, size, "text/csv; charset=utf-8"); err != nil {
		return Export{}, err
	}
	if err := s.st.SaveExport(ctx, e); err != nil {
		return Export{}, err
	}
	url, err := s.blobs.SignedURL(ctx, e.Key, s.cfg.ExportLinkTTL)
	if err != nil {
		return Export{}, err
	}
	e.URL, e.ExpiresAt = url, e.CreatedAt.Add(s.cfg.ExportLinkTTL)
	return e, nil
}

func (s *Service) writeCSV(ctx context.Context, w io.Writer, e Export) (int64, error) {
	cw := csv.NewWriter(w)
	if err := cw.Write(exportColumns[:]); err != nil {
		return 0, err
	}
	var n int64
	rec := make([]string, len(exportColumns))
	err := s.st.UsageRows(ctx, e.InsurerID, e.Mode, e.From, e.To, func(u Usage) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		rec[0] = u.ID
		rec[1] = u.OccurredAt.UTC().Format(time.RFC3339Nano)
		rec[2] = u.Mode
		rec[3] = string(u.Meter)
		rec[4] = strconv.FormatInt(u.Quantity, 10)
		rec[5] = strconv.FormatInt(u.Amount.Minor, 10)
		rec[6] = u.Amount.Currency
		rec[7] = u.PlanID
		rec[8] = u.Partner
		rec[9] = u.VerificationID
		rec[10] = u.CheckID
		rec[11] = ""
		if !u.SyncedAt.IsZero() {
			rec[11] = u.SyncedAt.UTC().Format(time.RFC3339Nano)
		}
		n++
		return cw.Write(rec)
	})
	if err != nil {
		return 0, err
	}
	cw.Flush()
	return n, cw.Error()
}
