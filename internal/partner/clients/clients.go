// Package clients collects the factory of every partner protocol client,
// for partner.NewRegistry.
package clients

import (
	"github.com/borderproof/borderproof/internal/partner"
	"github.com/borderproof/borderproof/internal/partner/bordermovements"
	"github.com/borderproof/borderproof/internal/partner/docregistry"
	"github.com/borderproof/borderproof/internal/partner/statuscase"
	"github.com/borderproof/borderproof/internal/partner/visastatus"
	"github.com/borderproof/borderproof/internal/partner/watchlist"
)

// Factories maps each protocol name to its client factory.
func Factories() map[string]partner.Factory {
	return map[string]partner.Factory{
		visastatus.Protocol:      visastatus.Factory,
		statuscase.Protocol:      statuscase.Factory,
		docregistry.Protocol:     docregistry.Factory,
		bordermovements.Protocol: bordermovements.Factory,
		watchlist.Protocol:       watchlist.Factory,
	}
}
